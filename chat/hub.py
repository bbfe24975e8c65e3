"""The node's real-time hub: its rooms, their ticks, and the commands they take.

One ``Hub`` per process, over an injected ``RoomStore`` (``livecart.chat.store``). It
puts together:
- ``rooms.Rooms``: rooms loaded on first join, kept in step through the store's feed,
  resynchronised after a gap, dropped a while after the last session leaves;
- ``loops.Loops``: the ticker (one batch per room per tick) and the live-values loop;
- ``join``: a session's first frame (resume or snapshot);
- command execution for WebSocket sessions and the HTTP API alike (``execute``): the
  pure rules of ``decisions`` say what a command does, the hub does it (decide -> emit
  -> wait until this node applied it); checkout commands go to the ``CheckoutPort``.

Guarantees:
- a client sees every sequenced event of its room exactly once and in order, or is told
  it did not (``recovered: false`` snapshot, ``skipped``), also when the store's room
  went back (a failover or restart that lost events, a re-created room): the node
  notices (``rooms``, ``staleness``), reloads and sends fresh snapshots;
- when the store is away the hub stays up, sessions stay connected, commands that need
  it get ``unavailable``, and everything resumes by itself when it returns;
- nothing in the tick or the feed path awaits a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from livecart.addresses import address_key
from livecart.chat import commands as c
from livecart.chat import identity
from livecart.chat.actor import Actor
from livecart.chat.buyer_tokens import LEEWAY_SECONDS, BuyerTokens
from livecart.chat.chat_rules import LimitsTable, address_burst, address_limits
from livecart.chat.checkout_port import CheckoutPort
from livecart.chat.decisions import Context, Decision, authorize, decide
from livecart.chat.errors import (
    CloseCode,
    CommandError,
    ErrorCode,
    RoomNotFound,
    StoreUnavailable,
)
from livecart.chat.events import RoomEvent
from livecart.chat.figures import HubFigures, RoomFigures
from livecart.chat.join import first_frame
from livecart.chat.loops import Loops
from livecart.chat.room import Room
from livecart.chat.rooms import Rooms
from livecart.chat.session import Session
from livecart.chat.store import ChatBudget, RoomStore, Write
from livecart.histogram import histogram_json
from livecart.redis_client import REDIS_DOWN

APPLY_WAIT = 5.0
FEED_CONNECT_TIMEOUT = 10.0
EMIT_AFTER_REPLY: frozenset[type[c.CheckoutCommand]] = frozenset({c.Bid})
"""Checkout commands whose event is emitted after their reply, not before. A bid is
decided in Redis and its reply carries the whole auction, so the bidder needs nothing
from the event, and its ``version`` orders it among parallel bids' events wherever it
lands (docs/protocol.md); waiting for the emit and its apply put one more fsync'd Redis
write and two more turns of the loop on every bid's reply."""

log = logging.getLogger(__name__)


def wall_ms() -> float:
    return round(time.time() * 1000, 1)


class Hub:
    """The node's real-time hub: its loaded rooms, their sessions, the background loops, and
    every command, from a WebSocket session (``handle``) or the HTTP API (``execute``).

    A command is decided by the pure rules of ``decisions``, written through the injected
    ``RoomStore`` (one atomic emit) and answered once this node has applied its event, so a
    client sees its own change in order with everyone else's; a refused command changes
    nothing and raises ``CommandError`` (an error reply on a socket). While the store is
    away the hub stays up: sessions stay connected, commands that need the store get
    ``unavailable``, and everything resumes by itself. Nothing in the tick or the feed path
    awaits a client. ``start`` before use; ``stop`` closes every session with 1001 and
    cancels and awaits the loops."""

    def __init__(
        self,
        store: RoomStore,
        *,
        checkout: CheckoutPort | None = None,
        clock: Callable[[], float] = time.monotonic,
        address_chat_rate: float = 2.0,
        buyer_tokens: BuyerTokens | None = None,
    ) -> None:
        self.store = store
        self.checkout = checkout
        self.buyer_tokens = buyer_tokens
        """With it, ``buy`` and ``pay`` need a buyer token on the connection
        (``buyer_auth``); without it, ``buyer_auth`` is refused with ``bad_token``."""
        self.clock = clock
        self._background: set[asyncio.Task[Any]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._rooms = Rooms(store, checkout, self._spawn, self.address_digest)
        self._loops = Loops(self._rooms, store, checkout, clock, self._spawn)
        self._loops.emit = self._emit
        self._rooms.on_pending = self._loops.wake
        self.secret = b""
        self.viewer_limits = LimitsTable()
        """Chat limits per (room, vid): every socket of one viewer here shares them. A
        cheap first filter: the store's emit checks the shared budget (``ChatBudget``)."""
        self.address_chat_rate = address_chat_rate
        self.address_limits: LimitsTable | None = (
            LimitsTable(lambda: address_limits(address_chat_rate))
            if address_chat_rate > 0
            else None
        )
        """Chat budget per (room, client address key), over all its sockets and vids."""
        self.commands_run = 0
        self.command_outcomes: Counter[tuple[str, str]] = Counter()
        """(command, ``ok`` or error code) -> how many, for /metrics."""
        self.sessions_ended = 0  # sessions that left (``leave``), for /metrics and the collector

    @property
    def node_id(self) -> str:
        """This node's identity in the store (``RoomStore.node_id``)."""
        return self.store.node_id

    @property
    def connected(self) -> bool:
        """True while the store's feed is connected (``/healthz``)."""
        return self._rooms.feed.connected

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Start the background loops. Needs the store once, for the shared secret."""
        self.secret = await self.store.secret()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._rooms.feed.run(), name="hub-feed"),
            loop.create_task(self._loops.ticker(), name="hub-ticker"),
            loop.create_task(self._loops.presence(), name="hub-presence"),
        ]
        await self._rooms.feed.wait_connected(FEED_CONNECT_TIMEOUT)

    async def stop(self) -> None:
        """Close every session with 1001 (going away) and stop the loops."""
        for room in self._rooms.loaded.values():
            for session in list(room.sessions):
                session.close(CloseCode.GOING_AWAY, "server shutting down")
            room.sessions.clear()
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for task in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- rooms and sessions ------------------------------------------------------------

    async def room(self, room_id: str) -> Room:
        """The loaded room. Raises ``RoomNotFound`` or ``CommandError(unavailable)``."""
        return await self._rooms.get(room_id)

    def loaded(self, room_id: str) -> Room | None:
        """The room if this node holds it now (no store access)."""
        return self._rooms.loaded.get(room_id)

    async def join(
        self, room_id: str, session: Session, since: int | None = None, epoch: str | None = None
    ) -> Room:
        """Add a session to its room and send its first frame (snapshot or resume),
        answered from a copy of the room just checked against the store (``Rooms.current``).

        Raises ``RoomNotFound`` or ``CommandError(unavailable)``; closes a banned viewer
        with 4003 (and returns the room without adding the session).
        """
        room = await self._rooms.current(room_id)  # checked against the store's head
        session.room_id = room_id
        if session.is_host and room.state.host:
            session.name = room.state.host  # the room's host speaks under the room's name
        if not session.is_host and (
            session.vid in room.state.banned
            or self._address_banned(room, session)
            or await self._address_banned_anywhere(room, session)
        ):
            session.close(CloseCode.BANNED, "banned")
            return room
        session.send(first_frame(room, session, since, epoch))
        room.sessions.add(session)
        room.empty_since = None
        return room

    @staticmethod
    def _address_banned(room: Room, session: Session) -> bool:
        banned = room.banned_addresses
        return bool(banned) and bool(session.address) and address_key(session.address) in banned

    async def _address_banned_anywhere(self, room: Room, session: Session) -> bool:
        """Whether any node saw a banned viewer on the session's address (one HEXISTS,
        asked only while the room bans someone; while the store is away: no)."""
        if not room.state.banned or not session.address:
            return False
        try:
            return await self.store.address_banned(
                room.room_id, self.address_digest(session.address)
            )
        except StoreUnavailable:
            return False

    def address_digest(self, address: str) -> str:
        """A client address as the store keeps it: a keyed digest of its ``address_key``."""
        digest = hmac.new(self.secret, address_key(address).encode(), hashlib.sha256)
        return "a" + digest.hexdigest()[:24]

    def explain_key(self, actor: Actor, session: Session | None) -> str:
        """Who an "explain this" request counts as: a viewer's client address (so one
        client with many sockets or identities counts once per product), kept in Redis
        only as a keyed digest; the host (or the HTTP API) by its vid."""
        if session is None or session.is_host or not session.address:
            return actor.vid
        return self.address_digest(session.address)

    def _budget(self, session: Session | None) -> ChatBudget | None:
        """The shared budget a viewer's chat message is checked against in the store."""
        if session is None or session.is_host:
            return None
        rate = self.address_chat_rate
        if rate <= 0 or not session.address:
            return ChatBudget(session.vid)
        return ChatBudget(
            session.vid,
            address=self.address_digest(session.address),
            address_rate=rate,
            address_burst=address_burst(rate),
        )

    def leave(self, session: Session) -> None:
        """The session's connection ended: drop it from its room (nothing else in the
        hub refers to a session; its rate-limit buckets go with it)."""
        self.sessions_ended += 1
        room = self._rooms.loaded.get(session.room_id)
        if room is not None:
            room.sessions.discard(session)
            if not room.sessions:
                room.empty_since = self.clock()

    # -- commands ----------------------------------------------------------------------

    async def handle(self, session: Session, obj: dict[str, Any]) -> dict[str, Any]:
        """Run one decoded frame from a session; return the reply frame (never raises
        ``CommandError``: it becomes an error reply)."""
        received = time.perf_counter()
        cid = c.command_id(obj)
        counted = False
        try:
            session.commands.spend(self.clock())
            command = c.parse_command(obj)
            room = self._rooms.loaded.get(session.room_id)
            if room is None:
                raise CommandError(ErrorCode.UNAVAILABLE, "room is not loaded")
            self._check_buyer(session, command)
            actor = Actor(session.vid, session.name, session.role, session.buyer, session.address)
            counted = True  # ``execute`` counts the outcome from here on
            data = await self.execute(room, actor, command, session, received)
        except CommandError as exc:
            if not counted:
                self.command_outcomes[c.frame_label(obj), str(exc.code)] += 1
            return {"t": "reply", "id": cid, "ok": False, "error": exc.as_dict()}
        return {"t": "reply", "id": cid, "ok": True, "data": data}

    async def execute(
        self,
        room: Room,
        actor: Actor,
        command: c.Command,
        session: Session | None = None,
        received: float | None = None,
    ) -> dict[str, Any]:
        """Run a command for ``actor`` in ``room`` (``session``: the sender's connection,
        whose chat limits apply; ``received``: the ``perf_counter`` at which the hub got
        the frame, for the ``read_to_stamp`` stage). Raises ``CommandError``; a refused
        command changes nothing. Counts the outcome in ``command_outcomes``."""
        name = c.command_label(command)
        try:
            data = await self._execute(room, actor, command, session, received)
        except CommandError as exc:
            self.command_outcomes[name, str(exc.code)] += 1
            raise
        self.command_outcomes[name, "ok"] += 1
        return data

    async def _execute(
        self,
        room: Room,
        actor: Actor,
        command: c.Command,
        session: Session | None,
        received: float | None = None,
    ) -> dict[str, Any]:
        authorize(actor, command)
        self.commands_run += 1
        now = self.clock()
        limits = per_address = None
        if session is not None:
            limits = self.viewer_limits.get((room.room_id, session.vid), now)
            if self.address_limits is not None and session.address and not session.is_host:
                key = (room.room_id, address_key(session.address))
                per_address = self.address_limits.get(key, now)
        ctx = Context(
            now=now,
            wall_ms=wall_ms(),
            limits=limits,
            address_limits=per_address,
            address_banned=session is not None and self._address_banned(room, session),
            checkout=self.checkout is not None,
        )
        if received is not None:
            self._loops.stages.read_to_stamp.observe(time.perf_counter() - received)
        who = self.explain_key(actor, session)
        try:
            decision = decide(room.state, actor, command, ctx)
            if decision.buyer_token is not None:
                return self._authenticate(session, decision.buyer_token)
            budget = self._budget(session) if decision.records_chat else None
            return await self._carry_out(room, actor, decision, ctx, who, budget)
        except RoomNotFound as exc:
            raise CommandError(ErrorCode.NOT_FOUND, "room no longer exists") from exc
        except REDIS_DOWN as exc:  # from checkout, which talks to Redis itself
            raise CommandError(ErrorCode.UNAVAILABLE, "datastore unreachable, retry") from exc

    def _check_buyer(self, session: Session, command: c.Command) -> None:
        """With buyer tokens configured, ``buy`` and ``pay`` need a live one."""
        if self.buyer_tokens is None or not isinstance(command, (c.Buy, c.Pay)):
            return
        if session.buyer is None:
            raise CommandError(ErrorCode.AUTH_REQUIRED, "sign in first: send buyer_auth")
        if wall_ms() > session.buyer_expires_ms + LEEWAY_SECONDS * 1000:
            raise CommandError(ErrorCode.TOKEN_EXPIRED, "the buyer token expired: send a new one")

    def _authenticate(self, session: Session | None, token: str) -> dict[str, Any]:
        """Verify a buyer token; on success the connection buys as ``u:<sub>``. A
        refusal leaves the connection's earlier identity as it was."""
        if session is None:  # the HTTP API: nothing to sign in
            raise CommandError(ErrorCode.BAD_COMMAND, "buyer_auth is a WebSocket command")
        if self.buyer_tokens is None:
            raise CommandError(ErrorCode.BAD_TOKEN, "this server takes no buyer tokens")
        claims = self.buyer_tokens.verify(token)
        room = self._rooms.loaded.get(session.room_id)
        if room is not None and claims.buyer in room.state.banned and not session.is_host:
            raise CommandError(ErrorCode.BANNED, "this account is banned from this room")
        session.buyer, session.buyer_expires_ms = claims.buyer, claims.expires_ms
        return {"buyer": claims.sub, "expires_at": claims.expires_ms}

    async def _carry_out(
        self,
        room: Room,
        actor: Actor,
        decision: Decision,
        ctx: Context,
        who: str,
        budget: ChatBudget | None = None,
    ) -> dict[str, Any]:
        """Do what ``decision`` says, in the order ``decisions`` documents."""
        rid = room.room_id
        if decision.checkout is not None:
            return await self._checkout(room, actor, decision.checkout)
        if decision.init_stock is not None and self.checkout is not None:
            await self.checkout.init_stock(rid, *decision.init_stock)
        data = dict(decision.reply)
        if decision.event is not None:
            # The store checks and takes the shared budget (``budget``) with the emit.
            # This node's filter counts the message before awaiting the store, so that
            # another socket here checks against it meanwhile (given back on failure).
            counted = decision.records_chat and ctx.limits is not None
            if counted:
                assert ctx.limits is not None
                previous = ctx.limits.record(ctx.now)
                if ctx.address_limits is not None:
                    ctx.address_limits.bucket.take(ctx.now)
            try:
                seq = await self._emit(room, decision.event, decision.writes, budget)
            except BaseException:
                if counted:
                    assert ctx.limits is not None
                    ctx.limits.unrecord(ctx.now, previous)
                    if ctx.address_limits is not None:
                        ctx.address_limits.bucket.give_back(ctx.now)
                raise
            if decision.reply_seq:
                data["seq"] = seq
            if self.checkout is not None and decision.records_chat and not actor.is_host:
                giveaway = room.state.giveaway
                if giveaway is not None and giveaway.get("state") == "open":
                    await self.checkout.chatted(rid, room.state, actor.vid, actor.name)
        if decision.banned_words is not None:
            await self.store.set_banned_words(rid, list(decision.banned_words))
        if decision.clear_explain is not None:
            await self.store.clear_explain(rid, decision.clear_explain)
        if decision.count_explain is not None:
            data["requests"] = await self.store.explain(rid, decision.count_explain, who)
        room.local_hearts += decision.hearts
        return data

    async def _checkout(
        self, room: Room, actor: Actor, command: c.CheckoutCommand
    ) -> dict[str, Any]:
        if self.checkout is None:
            raise CommandError(ErrorCode.UNAVAILABLE, "checkout is not enabled on this server")
        data, sale = await self.checkout.execute(room.room_id, actor, command, room.state)
        if sale is not None and type(command) in EMIT_AFTER_REPLY:
            self._spawn(self._emit_quietly(room, sale))
        elif sale is not None:
            await self._emit(room, sale)
        return data

    async def _emit_quietly(self, room: Room, event: RoomEvent) -> None:
        """``_emit`` after the reply went (``EMIT_AFTER_REPLY``): a failure is logged;
        the room's auction is brought up to Redis' by the next lot tick
        (``CheckoutPort.lot_tick``), so no event is needed for it to be right."""
        try:
            await self._emit(room, event)
        except (CommandError, RoomNotFound, *REDIS_DOWN) as exc:
            log.warning("event of room %s not emitted: %s", room.room_id, exc,
                        extra={"room": room.room_id})  # fmt: skip

    async def _emit(
        self,
        room: Room,
        event: RoomEvent,
        writes: tuple[Write, ...] = (),
        budget: ChatBudget | None = None,
    ) -> int:
        """Sequence ``event`` and return its seq once this node has applied it, so the
        sender's next command sees its effect (read your writes). If the feed is slow
        beyond ``APPLY_WAIT`` the reply goes anyway: the event is committed and arrives."""
        started = time.perf_counter()
        seq = await self.store.emit(room.room_id, event, writes, budget)
        self._loops.stages.emit_round_trip.observe(time.perf_counter() - started)
        waiter = room.applied(seq)
        if waiter is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, APPLY_WAIT)
        return seq

    # -- helpers for the web layer -----------------------------------------------------

    def new_identity(self, token: str | None) -> tuple[str, str]:
        """The (vid, token) of a genuine viewer token, or a freshly issued pair."""
        vid = identity.verify(self.secret, token)
        if vid is not None and token is not None:
            return vid, token
        return identity.issue(self.secret)

    def figures(self) -> HubFigures:
        """This node's counters and per-room gauges now (cheap: no store access)."""
        loaded = self._rooms.loaded
        rooms = loaded.values()
        retired = self._rooms.retired
        feed = self._rooms.feed
        return HubFigures(
            rooms={
                rid: RoomFigures(len(r.sessions), sum(1 for s in r.sessions if not s.is_host))
                for rid, r in loaded.items()
            },
            frames=retired.frames + sum(r.frames_written for r in rooms),
            bytes=retired.bytes + sum(r.bytes_written for r in rooms),
            deliveries=self._loops.deliveries,
            chat_skipped=retired.chat_skipped + sum(r.chat_skipped for r in rooms),
            slow_closed=retired.slow_closed + sum(r.slow_closed for r in rooms),
            ticks=self._loops.ticks,
            tick_seconds=self._loops.tick_seconds,
            delivery_seconds=self._loops.delivery_seconds,
            stages=self._loops.stages,
            commands=Counter(self.command_outcomes),
            feed_received=feed.received,
            feed_reconnects=feed.reconnects,
            feed_losses=feed.losses,
            gaps=self._rooms.gaps,
            resyncs=self._rooms.resyncs,
            reloads=self._rooms.reloads,
        )

    def stats(self) -> dict[str, Any]:
        """The node's counters as one JSON object (``GET /api/stats``)."""
        f = self.figures()
        return {
            "node": self.node_id,
            "rooms": len(f.rooms),
            "sessions": sum(r.connections for r in f.rooms.values()),
            "deliveries": f.deliveries,
            "frames": f.frames,
            "bytes": f.bytes,
            "chat_skipped": f.chat_skipped,
            "slow_closed": f.slow_closed,
            "pubsub_received": f.feed_received,
            "redis_connected": self.connected,
            "commands": self.commands_run,
            "background_tasks": len(self._background),
            "sessions_ended": self.sessions_ended,
            "histograms": {
                "delivery_latency": histogram_json(f.delivery_seconds),
                "tick_duration": histogram_json(f.tick_seconds),
                "stages": {name: histogram_json(b) for name, b in f.stages.by_name().items()},
            },
        }
