"""The node's real-time hub: rooms on this node, their ticks, and the commands they take.

One ``Hub`` per process. It owns:
- the rooms that have sessions on this node (loaded from Redis on first join, kept in
  step through the room's pub/sub channel, dropped a while after the last one leaves);
- the ticker that flushes every due room (``Room.flush``: one frame per session per
  tick, encoded once per format);
- the presence loop (viewer counts across nodes, explain ranking, checkout live values),
  at most once a second per room;
- command execution for WebSocket sessions and the HTTP API alike (``execute``).

Guarantees:
- a client sees every sequenced event of its room exactly once and in order, or is told
  it did not (``recovered: false`` snapshot, ``skipped``); gaps seen on pub/sub are filled
  from the room's history in Redis, or every session gets a fresh snapshot;
- when Redis is away the hub stays up, sessions stay connected, commands that need Redis
  get ``unavailable``, and everything resumes by itself when Redis returns;
- nothing in the tick or the pub/sub path awaits a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis

from livecart.cancellation import stop_if_cancelled
from livecart.chat import commands as c
from livecart.chat import identity
from livecart.chat.chat_rules import check_banned_words, check_slow_mode, clean_text
from livecart.chat.errors import CloseCode, CommandError, ErrorCode
from livecart.chat.room import BASE_TICK, Room
from livecart.chat.room_state import RoomState, SequenceGap
from livecart.chat.session import Session
from livecart.chat.store import Op, RoomNotFound, RoomStore
from livecart.chat.subscriber import REDIS_DOWN, Subscriber
from livecart.keyspace import NODE_CHANNEL_PREFIX, node_channel, room_channel, room_of_channel

log = logging.getLogger(__name__)

PRESENCE_INTERVAL = 1.0
SALE_LIVE_INTERVAL = 0.25
APPLY_WAIT = 5.0
UNLOAD_AFTER = 30.0


@dataclass(frozen=True, slots=True)
class Actor:
    """Who runs a command: a session's user, or an HTTP caller with a host token."""

    vid: str
    name: str
    role: str

    @property
    def is_host(self) -> bool:
        return self.role == "host"


class CheckoutPort(Protocol):
    """What the hub needs from checkout (implemented by ``checkout.hub_adapter``)."""

    async def init_stock(self, room_id: str, product_id: str, stock: int) -> None: ...

    async def execute(
        self, room_id: str, actor: Actor, name: str, args: dict[str, Any], state: RoomState
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Run a checkout command; return (reply data, a ``sale`` event to emit or None)."""
        ...

    async def live(self, room_id: str, state: RoomState) -> dict[str, Any]:
        """Live values (``stock``, ``bought``) for the room, read now."""
        ...

    async def sales(self, room_id: str) -> dict[str, dict[str, Any]]: ...


class Hub:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        node_id: str | None = None,
        checkout: CheckoutPort | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.node_id = node_id or secrets.token_hex(4)
        self.store = RoomStore(redis, self.node_id)
        self.checkout = checkout
        self.clock = clock
        self.rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Future[Room]] = {}
        self._buffers: dict[str, list[bytes]] = {}
        self._resync_buffers: dict[str, list[dict[str, Any]]] = {}
        self._resyncing: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self.secret = b""
        self.subscriber = Subscriber(
            redis, node_channel(self.node_id), self._on_message, self._on_reconnect
        )
        self.deliveries = 0
        self.commands_run = 0

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Start the background loops. Needs Redis once, for the shared secret."""
        self.secret = await self.store.secret()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.subscriber.run(), name="hub-subscriber"),
            loop.create_task(self._ticker(), name="hub-ticker"),
            loop.create_task(self._presence_loop(), name="hub-presence"),
        ]
        await asyncio.wait_for(self.subscriber.connected.wait(), 10)

    async def stop(self) -> None:
        """Close every session with 1001 (going away) and stop the loops."""
        for room in self.rooms.values():
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

    # -- rooms -----------------------------------------------------------------------

    async def room(self, room_id: str) -> Room:
        """The loaded room. Raises ``RoomNotFound`` or ``CommandError(unavailable)``."""
        room = self.rooms.get(room_id)
        if room is not None:
            return room
        pending = self._loading.get(room_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._loading[room_id] = pending
            self._spawn(self._load(room_id, pending))
        return await asyncio.shield(pending)

    async def _load(self, room_id: str, done: asyncio.Future[Room]) -> None:
        self._buffers[room_id] = []
        try:
            await self.subscriber.subscribe(room_channel(room_id))
            state, hearts = await self.store.load(room_id)
            if self.checkout is not None:
                state.sales = await self.checkout.sales(room_id)
            room = Room(state, hearts)
            self.rooms[room_id] = room
            for data in self._buffers.pop(room_id, []):
                self._dispatch(room, data)
            done.set_result(room)
        except RoomNotFound as exc:
            self.subscriber.unsubscribe(room_channel(room_id))
            done.set_exception(exc)
        except (TimeoutError, CommandError, *REDIS_DOWN) as exc:
            done.set_exception(CommandError(ErrorCode.UNAVAILABLE, "datastore unreachable"))
            log.warning("loading room %s failed: %s", room_id, exc)
        except Exception as exc:  # a bug: tell the joiner, keep the hub up
            log.exception("loading room %s failed", room_id)
            done.set_exception(exc)
        finally:
            self._buffers.pop(room_id, None)
            self._loading.pop(room_id, None)
            if not done.done():
                done.cancel()
            elif done.exception() is not None:
                done.exception()  # retrieved: no "never retrieved" warning

    def _on_message(self, chan: str, data: bytes) -> None:
        if chan.startswith(NODE_CHANNEL_PREFIX):
            return
        room_id = room_of_channel(chan)
        buffer = self._buffers.get(room_id)
        if buffer is not None:
            buffer.append(data)
            return
        room = self.rooms.get(room_id)
        if room is not None:
            self._dispatch(room, data)

    def _dispatch(self, room: Room, data: bytes) -> None:
        kind = data[:1]
        try:
            if kind == b"E":
                self._receive(room, json.loads(data[1:]))
            elif kind == b"H":
                n, total = data[1:].split(b":")
                room.pending_hearts += int(n)
                room.live["hearts_total"] = max(room.live.get("hearts_total", 0), int(total))
            elif kind == b"C":
                self._control(room, json.loads(data[1:]))
        except Exception:
            log.exception("bad message on room %s: %r", room.room_id, data[:200])

    def _receive(self, room: Room, event: dict[str, Any]) -> None:
        if room.room_id in self._resyncing:
            self._resync_buffers.setdefault(room.room_id, []).append(event)
            return
        try:
            applied = room.state.apply(event)
        except SequenceGap:
            self._resync_buffers.setdefault(room.room_id, []).append(event)
            self._spawn(self._resync(room))
            return
        if applied:
            room.enqueue(event)
            self._side_effects(room, event)
            room.release_waiters()

    def _side_effects(self, room: Room, event: dict[str, Any]) -> None:
        if event.get("type") == "moderation" and event.get("action") == "ban":
            for session in [s for s in room.sessions if s.vid == event["vid"]]:
                room.sessions.discard(session)
                session.close(CloseCode.BANNED, "banned")

    def _control(self, room: Room, message: dict[str, Any]) -> None:
        if message.get("type") == "words":
            room.state.set_banned_words(list(message.get("words", [])))

    async def _resync(self, room: Room) -> None:
        """Fill a gap from the room's Redis history, or reload and re-snapshot everyone."""
        room_id = room.room_id
        if room_id in self._resyncing:
            return
        self._resyncing.add(room_id)
        try:
            for attempt in range(50):
                try:
                    await self._fill_gap(room)
                    break
                except REDIS_DOWN:
                    await asyncio.sleep(min(2.0, 0.1 * (attempt + 1)))
        finally:
            self._resyncing.discard(room_id)
            for event in self._resync_buffers.pop(room_id, []):
                self._receive(room, event)

    async def _fill_gap(self, room: Room) -> None:
        state = room.state
        meta = await self.store.meta(room.room_id)
        missing = await self.store.history_after(room.room_id, state.seq)
        if meta.get("epoch") == state.epoch and (not missing or missing[0]["seq"] == state.seq + 1):
            for event in missing:
                if state.apply(event):
                    room.enqueue(event)
                    self._side_effects(room, event)
            room.release_waiters()
            return
        if not meta:
            for session in list(room.sessions):
                session.close(CloseCode.NO_SUCH_ROOM, "room no longer exists")
            room.sessions.clear()
            return
        fresh, hearts = await self.store.load(room.room_id)
        if self.checkout is not None:
            fresh.sales = await self.checkout.sales(room.room_id)
        log.warning("room %s: history gap, sending fresh snapshots", room.room_id)
        room.state = fresh
        room.release_waiters()
        room.pending = []
        room.live["hearts_total"] = hearts
        for session in list(room.sessions):
            session.send(self._snapshot(room, session))

    async def _on_reconnect(self) -> None:
        for room in list(self.rooms.values()):
            self._spawn(self._resync(room))

    # -- joining -----------------------------------------------------------------------

    async def join(
        self, room_id: str, session: Session, since: int | None = None, epoch: str | None = None
    ) -> Room:
        """Add a session to its room and send its first frame (snapshot or resume).

        Raises ``RoomNotFound`` or ``CommandError(unavailable)``; closes a banned viewer
        with 4003 (and returns the room without adding the session).
        """
        room = await self.room(room_id)
        session.room_id = room_id
        if session.is_host and room.state.host:
            session.name = room.state.host  # the room's host speaks under the room's name
        if session.vid in room.state.banned and not session.is_host:
            session.close(CloseCode.BANNED, "banned")
            return room
        first: dict[str, Any] | None = None
        if since is not None and epoch == room.state.epoch:
            events = room.state.events_since(since)
            if events is not None:
                first = {
                    "t": "resume",
                    "recovered": True,
                    "epoch": room.state.epoch,
                    "seq": room.state.seq,
                    "you": self._you(room, session),
                    "events": events,
                    "live": room.live_snapshot(),
                }
        session.send(first or self._snapshot(room, session))
        room.sessions.add(session)
        room.empty_since = None
        return room

    def _you(self, room: Room, session: Session) -> dict[str, Any]:
        return {
            "vid": session.vid,
            "token": session.token,
            "name": session.name,
            "role": session.role,
            "muted": session.vid in room.state.muted,
        }

    def _snapshot(self, room: Room, session: Session) -> dict[str, Any]:
        snap = room.state.snapshot()
        snap.update(
            t="snapshot", recovered=False, you=self._you(room, session), live=room.live_snapshot()
        )
        if session.is_host:
            snap["banned_words"] = list(room.state.banned_words)
            snap["muted"] = sorted(room.state.muted)
            snap["banned"] = sorted(room.state.banned)
        return snap

    def leave(self, session: Session) -> None:
        room = self.rooms.get(session.room_id)
        if room is not None:
            room.sessions.discard(session)
            if not room.sessions:
                room.empty_since = self.clock()

    # -- background loops --------------------------------------------------------------

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            stop_if_cancelled()
            next_tick += BASE_TICK
            delay = next_tick - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_tick = loop.time()  # fell behind: do not try to catch up in a burst
            now = self.clock()
            hearts: dict[str, int] = {}
            for room in list(self.rooms.values()):
                if room.local_hearts:
                    hearts[room.room_id] = room.local_hearts
                    room.local_hearts = 0
                if room.due(now):
                    try:
                        self.deliveries += room.flush(now)
                    except Exception:
                        log.exception("flush of room %s failed", room.room_id)
            if hearts:
                self._spawn(self._publish_hearts(hearts))

    async def _publish_hearts(self, hearts: dict[str, int]) -> None:
        # Hearts are ephemeral: taps lost while Redis is away are acceptable.
        with contextlib.suppress(*REDIS_DOWN):
            await self.store.add_hearts(hearts)

    async def _presence_loop(self) -> None:
        """Every second: viewers, explain ranking, hearts. Every 250 ms while a room has a
        sale that is not closed: stock and recent purchases (a flash sale can sell out
        in a second)."""
        rounds_per_presence = round(PRESENCE_INTERVAL / SALE_LIVE_INTERVAL)
        n = 0
        while True:
            stop_if_cancelled()
            await asyncio.sleep(SALE_LIVE_INTERVAL)
            n += 1
            presence = n % rounds_per_presence == 0
            now = self.clock()
            for room in list(self.rooms.values()):
                idle = room.empty_since is not None and now - room.empty_since > UNLOAD_AFTER
                if presence and idle and not room.sessions:
                    self._unload(room)
                    continue
                selling = any(s.get("state") != "closed" for s in room.state.sales.values())
                if not (presence or selling):
                    continue
                try:
                    await self.refresh_live(room, presence=presence)
                except (*REDIS_DOWN, CommandError):
                    pass  # Redis is away: the values stay as they were until it is back
                except Exception:
                    log.exception("live values of room %s failed", room.room_id)

    async def refresh_live(self, room: Room, presence: bool = True) -> None:
        """Report this node's viewers and read the room's live values (one round trip,
        plus one for checkout when the room has sales)."""
        if presence:
            viewers = sum(1 for s in room.sessions if not s.is_host)
            total, ranked, hearts = await self.store.presence(room.room_id, viewers)
            room.set_live("viewers", total)
            room.set_live("explain", ranked)
            room.live["hearts_total"] = max(room.live.get("hearts_total", 0), hearts)
        if self.checkout is not None and room.state.sales:
            for name, value in (await self.checkout.live(room.room_id, room.state)).items():
                if name == "bought":
                    if value:
                        room.pending_live["bought"] = value
                else:
                    room.set_live(name, value)

    def _unload(self, room: Room) -> None:
        self.rooms.pop(room.room_id, None)
        self.subscriber.unsubscribe(room_channel(room.room_id))
        self._spawn(self._leave_presence(room.room_id))

    async def _leave_presence(self, room_id: str) -> None:
        with contextlib.suppress(*REDIS_DOWN):
            await self.store.presence(room_id, 0)

    # -- commands ----------------------------------------------------------------------

    async def handle(self, session: Session, obj: dict[str, Any]) -> dict[str, Any]:
        """Run one decoded frame from a session; return the reply frame (never raises
        ``CommandError``: it becomes an error reply)."""
        cid = c.command_id(obj)
        try:
            session.commands.spend(self.clock())
            command = c.parse_command(obj)
            room = self.rooms.get(session.room_id)
            if room is None:
                raise CommandError(ErrorCode.UNAVAILABLE, "room is not loaded")
            actor = Actor(session.vid, session.name, session.role)
            data = await self.execute(room, actor, command, session)
        except CommandError as exc:
            return {"t": "reply", "id": cid, "ok": False, "error": exc.as_dict()}
        return {"t": "reply", "id": cid, "ok": True, "data": data}

    async def execute(
        self, room: Room, actor: Actor, command: c.Command, session: Session | None = None
    ) -> dict[str, Any]:
        """Run a command for ``actor`` in ``room``. Raises ``CommandError``; a refused
        command changes nothing."""
        if c.is_host_only(command) and not actor.is_host:
            raise CommandError(ErrorCode.FORBIDDEN, "only the host can do that")
        self.commands_run += 1
        try:
            return await self._run(room, actor, command, session)
        except RoomNotFound as exc:
            raise CommandError(ErrorCode.NOT_FOUND, "room no longer exists") from exc
        except REDIS_DOWN as exc:
            raise CommandError(ErrorCode.UNAVAILABLE, "datastore unreachable, retry") from exc

    async def _emit(self, room: Room, event: dict[str, Any], *ops: Op) -> int:
        """Sequence ``event`` and return its seq once this node has applied it, so the
        sender's next command sees its effect (read your writes). If pub/sub is slow
        beyond ``APPLY_WAIT`` the reply goes anyway: the event is committed and arrives."""
        event = {"ts": round(time.time() * 1000, 1), **event}
        seq = await self.store.emit(room.room_id, event, ops)
        waiter = room.applied(seq)
        if waiter is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, APPLY_WAIT)
        return seq

    async def _run(
        self, room: Room, actor: Actor, command: c.Command, session: Session | None
    ) -> dict[str, Any]:
        state = room.state
        rid = room.room_id
        if isinstance(command, c.Chat):
            if actor.vid in state.banned:
                raise CommandError(ErrorCode.BANNED, "you are banned from this room")
            if actor.vid in state.muted and not actor.is_host:
                raise CommandError(ErrorCode.MUTED, "the host muted you")
            text = clean_text(command.text)
            check_banned_words(text, state.banned_pattern)
            now = self.clock()
            if session is not None:
                if not actor.is_host:
                    check_slow_mode(state.slow_mode, session.last_chat, now)
                session.chat_bucket.check(now)
            seq = await self._emit(
                room,
                {
                    "type": "chat",
                    "user": {"vid": actor.vid, "name": actor.name, "role": actor.role},
                    "text": text,
                },
            )
            if session is not None:
                session.chat_bucket.spend(now)
                session.last_chat = now
            return {"seq": seq}
        if isinstance(command, c.Heart):
            room.local_hearts += command.n
            return {}
        if isinstance(command, c.Ping):
            return {"ts": round(time.time() * 1000, 1)}
        if isinstance(command, c.Explain):
            if command.product_id not in state.products:
                raise CommandError(ErrorCode.NOT_FOUND, "no such product in the lineup")
            return {"requests": await self.store.explain(rid, command.product_id, actor.vid)}
        if isinstance(command, c.AddProduct):
            pid = "p" + secrets.token_hex(4)
            product = {
                "id": pid,
                "name": command.name,
                "price": command.price,
                "currency": command.currency,
                "image_url": command.image_url,
                "stock": command.stock,
            }
            if self.checkout is not None:
                await self.checkout.init_stock(rid, pid, command.stock)
            await self._emit(
                room,
                {"type": "product", "product": product},
                Op("HSET", "catalog", (pid, json.dumps(product))),
                Op("SET", "lineup", (json.dumps([*state.lineup, pid]),)),
            )
            return {"product": product}
        if isinstance(command, c.UpdateProduct):
            current = state.products.get(command.product_id)
            if current is None:
                raise CommandError(ErrorCode.NOT_FOUND, "no such product")
            product = {**current, **dict(command.changes)}
            await self._emit(
                room,
                {"type": "product", "product": product},
                Op("HSET", "catalog", (command.product_id, json.dumps(product))),
            )
            return {"product": product}
        if isinstance(command, c.Reorder):
            if sorted(command.lineup) != sorted(state.lineup):
                raise CommandError(ErrorCode.BAD_ARGS, "lineup: must list every product once")
            order = list(command.lineup)
            await self._emit(
                room, {"type": "lineup", "lineup": order}, Op("SET", "lineup", (json.dumps(order),))
            )
            return {}
        if isinstance(command, c.Pin):
            pin = command.product_id
            if pin is not None and pin not in state.products:
                raise CommandError(ErrorCode.NOT_FOUND, "no such product")
            op = Op("SET", "pinned", (pin,)) if pin is not None else Op("DEL", "pinned")
            await self._emit(room, {"type": "pin", "product_id": pin}, op)
            if pin is not None:
                await self.store.clear_explain(rid, pin)
            return {}
        if isinstance(command, c.Dismiss):
            await self.store.clear_explain(rid, command.product_id)
            return {}
        if isinstance(command, c.Delete):
            mid = command.message_id
            known = any(e.get("type") == "chat" and e["seq"] == mid for e in state.history)
            if not known:
                raise CommandError(ErrorCode.NOT_FOUND, "no such message")
            await self._emit(room, {"type": "chat_deleted", "id": mid})
            return {}
        if isinstance(command, c.Moderate):
            action = command.action
            name = "muted" if action in ("mute", "unmute") else "banned"
            cmd = "SADD" if action in ("mute", "ban") else "SREM"
            await self._emit(
                room,
                {"type": "moderation", "action": action, "vid": command.vid},
                Op(cmd, name, (command.vid,)),
            )
            return {}
        if isinstance(command, c.SlowMode):
            info = {**state.room_info(), "slow_mode": command.seconds}
            await self._emit(
                room,
                {"type": "room", "room": info},
                Op("HSET", "meta", ("slow_mode", command.seconds)),
            )
            return {}
        if isinstance(command, c.SetStatus):
            info = {**state.room_info(), "status": command.status}
            await self._emit(
                room, {"type": "room", "room": info}, Op("HSET", "meta", ("status", command.status))
            )
            return {}
        if isinstance(command, c.BannedWords):
            words = list(command.words)
            await self.store.control(
                rid, {"type": "words", "words": words}, (Op("SET", "words", (json.dumps(words),)),)
            )
            return {"words": words}
        if isinstance(command, c.CheckoutCommand):
            if self.checkout is None:
                raise CommandError(ErrorCode.UNAVAILABLE, "checkout is not enabled on this server")
            data, sale_event = await self.checkout.execute(
                rid, actor, command.name, command.args, state
            )
            if sale_event is not None:
                await self._emit(room, sale_event)
            return data
        raise CommandError(ErrorCode.BAD_COMMAND, f"{command.NAME} is not handled")

    # -- helpers for the web layer -----------------------------------------------------

    def new_identity(self, token: str | None) -> tuple[str, str]:
        """The (vid, token) of a genuine viewer token, or a freshly issued pair."""
        vid = identity.verify(self.secret, token)
        if vid is not None and token is not None:
            return vid, token
        return identity.issue(self.secret)

    def stats(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "rooms": len(self.rooms),
            "sessions": sum(len(r.sessions) for r in self.rooms.values()),
            "deliveries": self.deliveries,
            "frames": sum(r.frames_written for r in self.rooms.values()),
            "bytes": sum(r.bytes_written for r in self.rooms.values()),
            "chat_skipped": sum(r.chat_skipped for r in self.rooms.values()),
            "slow_closed": sum(r.slow_closed for r in self.rooms.values()),
            "pubsub_received": self.subscriber.received,
            "redis_connected": self.subscriber.connected.is_set(),
            "commands": self.commands_run,
        }
