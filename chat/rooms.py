"""The rooms this node holds: loaded from the store on first use, kept in step through
the store's feed, resynchronised when the feed skipped, dropped when unused.

Guarantees:
- a room is loaded once however many joins ask at the same time; the feed subscription
  is confirmed before the load, and what arrives meanwhile is applied after it, so no
  event falls between the two;
- every event reaches the room's state and its next batch exactly once and in order; on
  a gap (``SequenceGap``, or the feed reconnected) the missing events come from the
  store's history, and when that no longer has them every session gets a fresh
  snapshot; while a room resyncs, newer events wait and then follow in order;
- the copy is a prefix of the store's room, or is replaced by it
  (``livecart.chat.staleness``): when the store's room went back or changed epoch (an
  event on the feed differs from the one held under its seq; or the store's ``Head``,
  read on every resync and after every feed reconnect, every second by the presence loop
  and before answering a join, shows another epoch, a lower seq, or a restarted
  datastore whose event at our seq is not ours) the room is reloaded and every session
  gets a fresh snapshot (``recovered: false``); a room gone from the store closes its
  sessions with 4004 and is dropped. A room that went back under the same epoch gets a
  new one (``renew_epoch``), so no (epoch, seq) a client holds can resume into events
  it never saw;
- a join or resume is answered from a copy just found current against the store (one
  round trip), or after the resync that makes it so; only while the store is away does
  it get this node's copy unchecked;
- a ban closes the banned viewer's sessions here (4003) on every node, and each node
  bans the client addresses it saw them on: in the store, as keyed digests, for every
  node (``RoomStore.ban_addresses``), and in ``Room.banned_addresses`` (at most
  ``MAX_BANNED_ADDRESSES`` a room) as this node's quick first check; a new identity
  from there cannot join or chat on any node.
Nothing here awaits a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from livecart.addresses import address_key
from livecart.chat.checkout_port import CheckoutPort
from livecart.chat.errors import (
    CloseCode,
    CommandError,
    ErrorCode,
    RoomNotFound,
    SequenceGap,
    StoreUnavailable,
)
from livecart.chat.events import Moderated, RoomEvent
from livecart.chat.join import snapshot_frame
from livecart.chat.room import FanoutTotals, Room
from livecart.chat.room_state import RoomState
from livecart.chat.staleness import (
    Held,
    Verdict,
    gap_fillable,
    held_event,
    judge,
    judge_repeat,
    judge_tail,
)
from livecart.chat.store import Head, RoomStore
from livecart.limits import MAX_BANNED_ADDRESSES
from livecart.redis_client import REDIS_DOWN

log = logging.getLogger(__name__)

RESYNC_ATTEMPTS = 50
JOIN_RESYNC_WAIT = 5.0  # a join waits this long for its room's resync, then gets 1013

Spawn = Callable[[Awaitable[Any]], None]
Pending = Callable[[Room], None]


class Rooms:
    """Implements the store's ``FeedListener`` for this node's rooms."""

    def __init__(
        self,
        store: RoomStore,
        checkout: CheckoutPort | None,
        spawn: Spawn,
        address_digest: Callable[[str], str],
    ) -> None:
        self.store = store
        self._address_digest = address_digest
        self.checkout = checkout
        self._spawn = spawn
        self.loaded: dict[str, Room] = {}
        self.on_pending: Callable[[], None] | None = None
        """Given to each room loaded as its ``wake`` (the hub's ticker)."""
        self.feed = store.feed(self)
        # Counters for /metrics: gaps seen on the feed, resyncs started, reloads (fresh
        # snapshots) done, and the fan-out counters of rooms unloaded.
        self.gaps = 0
        self.resyncs = 0
        self.reloads = 0
        self.retired = FanoutTotals()
        self._loading: dict[str, asyncio.Future[Room]] = {}
        self._buffers: dict[str, list[Pending]] = {}  # feed messages while a room loads
        self._resync_buffers: dict[str, list[RoomEvent]] = {}
        self._resyncs: dict[str, asyncio.Future[None]] = {}  # done when the resync is over
        self._servers: dict[str, str] = {}  # Head.server each copy was last current against
        self._diverged: set[str] = set()  # the feed proved the store's room went back

    async def get(self, room_id: str) -> Room:
        """The loaded room. Raises ``RoomNotFound`` or ``CommandError(unavailable)``."""
        room = self.loaded.get(room_id)
        if room is not None:
            return room
        pending = self._loading.get(room_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._loading[room_id] = pending
            self._spawn(self._load(room_id, pending))
        return await asyncio.shield(pending)

    async def _read(self, room_id: str) -> tuple[RoomState, int]:
        state, hearts = await self.store.load(room_id)
        if self.checkout is not None:
            state.sales = await self.checkout.sales(room_id)
            lots = await self.checkout.lots(room_id)
            state.auction, state.giveaway = lots["auction"], lots["giveaway"]
        return state, hearts

    async def _load(self, room_id: str, done: asyncio.Future[Room]) -> None:
        self._buffers[room_id] = []
        try:
            await self.feed.subscribe(room_id)
            head = await self.store.head(room_id)  # before the load: a restart after it shows
            room = Room(*await self._read(room_id))
            room.wake = self.on_pending
            self.loaded[room_id] = room
            self._servers[room_id] = head.server
            for pending in self._buffers.pop(room_id, []):
                pending(room)
            done.set_result(room)
        except RoomNotFound as exc:
            self.feed.unsubscribe(room_id)
            done.set_exception(exc)
        except (TimeoutError, CommandError, *REDIS_DOWN) as exc:  # REDIS_DOWN: checkout
            done.set_exception(CommandError(ErrorCode.UNAVAILABLE, "datastore unreachable"))
            log.warning("loading room %s failed: %s", room_id, exc, extra={"room": room_id})
        except Exception as exc:  # a bug: tell the joiner, keep the hub up
            log.exception("loading room %s failed", room_id, extra={"room": room_id})
            done.set_exception(exc)
        finally:
            self._buffers.pop(room_id, None)
            self._loading.pop(room_id, None)
            if not done.done():
                done.cancel()
            elif done.exception() is not None:
                done.exception()  # retrieved: no "never retrieved" warning

    def unload(self, room: Room) -> None:
        """Drop a room nobody here watches; its presence entry and what checkout keeps
        for it on this node go with it."""
        if self.loaded.pop(room.room_id, None) is room:
            self.retired.add(room)
        self._servers.pop(room.room_id, None)
        self.feed.unsubscribe(room.room_id)
        if self.checkout is not None:
            self.checkout.forget(room.room_id)
        self._spawn(self._leave_presence(room.room_id))

    async def _share_ban(self, room_id: str, vid: str, digests: list[str]) -> None:
        """Tell every node the addresses this one saw ``vid`` on (store: ``ban_addresses``)."""
        try:
            await self.store.ban_addresses(room_id, vid, digests)
        except CommandError:
            log.warning("could not share a ban's addresses", extra={"room": room_id})

    async def _leave_presence(self, room_id: str) -> None:
        with contextlib.suppress(CommandError):
            await self.store.presence(room_id, 0)

    # -- is the copy current? --------------------------------------------------------------

    def held(self, room: Room) -> Held:
        """What this node holds of ``room``; take it before reading the store's head."""
        state = room.state
        return Held(state.epoch, state.seq, self._servers.get(room.room_id, ""))

    def check(self, room: Room, held: Held, head: Head) -> None:
        """Resync ``room`` unless ``head`` (read after ``held`` was taken) shows it current."""
        if self.loaded.get(room.room_id) is room and judge(held, head) is not Verdict.CURRENT:
            self.resync(room)

    async def current(self, room_id: str) -> Room:
        """The room, loaded or checked against the store's head (one round trip) and, when
        that shows it is not current, resynchronised: what a join is answered from.
        While the store is away, this node's copy as it is. Raises ``RoomNotFound`` or
        ``CommandError(unavailable)``."""
        was_loaded = room_id in self.loaded
        room = await self.get(room_id)
        pending = self._resyncs.get(room_id)
        if pending is None:
            if not was_loaded:
                return room  # just loaded from the store
            held = self.held(room)
            try:
                head = await self.store.head(room_id)
            except StoreUnavailable:
                return room  # the store is away: this copy is all there is
            if judge(held, head) is Verdict.CURRENT:
                return room
            pending = self.resync(room)
        try:
            await asyncio.wait_for(asyncio.shield(pending), JOIN_RESYNC_WAIT)
        except TimeoutError as exc:
            raise CommandError(ErrorCode.UNAVAILABLE, "room is resynchronising") from exc
        now = self.loaded.get(room_id)
        if now is None:
            raise RoomNotFound(room_id)
        return now

    # -- the feed --------------------------------------------------------------------------

    def _deliver(self, room_id: str, pending: Pending) -> None:
        buffer = self._buffers.get(room_id)
        if buffer is not None:
            buffer.append(pending)
            return
        room = self.loaded.get(room_id)
        if room is not None:
            pending(room)

    def on_event(self, room_id: str, event: RoomEvent) -> None:
        """A sequenced event from the feed: applied in ``seq`` order (held back while the
        room loads or resyncs; a gap triggers a resync). Synchronous: never awaits."""
        self._deliver(room_id, lambda room: self._receive(room, event))

    def on_hearts(self, room_id: str, n: int, total: int) -> None:
        """``n`` hearts were tapped on some node: they go out with the room's next batch and
        the room's total never goes back."""

        def add(room: Room) -> None:
            room.pending_hearts += n
            room.live["hearts_total"] = max(room.live.get("hearts_total", 0), total)

        self._deliver(room_id, add)

    def on_words(self, room_id: str, words: list[str]) -> None:
        """The room's banned words changed: the state's chat filter takes the new list."""
        self._deliver(room_id, lambda room: room.state.set_banned_words(words))

    async def on_reconnect(self) -> None:
        """The feed is back after a disconnect: every loaded room resyncs, filling what was
        missed from the store's history and checking its head (the datastore may have
        restarted meanwhile)."""
        for room in list(self.loaded.values()):
            self.resync(room)  # also checks the head: Redis may have restarted meanwhile

    def _receive(self, room: Room, event: RoomEvent) -> None:
        room_id = room.room_id
        if room_id in self._resyncs:
            self._resync_buffers.setdefault(room_id, []).append(event)
            return
        if event.seq <= room.state.seq:  # rare: the overlap after a load, or a rollback
            if judge_repeat(room.state.history, event.to_wire()) is Verdict.STALE:
                log.warning(
                    "room %s: the store issued seq %d again",
                    room_id,
                    event.seq,
                    extra={"room": room_id},
                )
                self._diverged.add(room_id)
                self._resync_buffers.setdefault(room_id, []).append(event)
                self.resync(room)
            return
        try:
            self._apply(room, event)
        except SequenceGap:
            self.gaps += 1
            self._resync_buffers.setdefault(room_id, []).append(event)
            self.resync(room)
            return
        room.release_waiters()

    def _apply(self, room: Room, event: RoomEvent) -> None:
        wire = room.state.apply(event)
        if wire is None:
            return
        room.enqueue(wire)
        if isinstance(event, Moderated) and event.action == "ban":
            banned = event.vid
            digests: set[str] = set()
            for session in [s for s in room.sessions if banned in (s.vid, s.buyer)]:
                if session.address:
                    digests.add(self._address_digest(session.address))
                    if len(room.banned_addresses) < MAX_BANNED_ADDRESSES:
                        room.banned_addresses[address_key(session.address)] = event.vid
                room.sessions.discard(session)
                session.close(CloseCode.BANNED, "banned")
            if digests:
                self._spawn(self._share_ban(room.room_id, banned, sorted(digests)))
        elif isinstance(event, Moderated) and event.action == "unban":
            for key in [k for k, vid in room.banned_addresses.items() if vid == event.vid]:
                del room.banned_addresses[key]

    # -- gaps and staleness ------------------------------------------------------------------

    def resync(self, room: Room) -> asyncio.Future[None]:
        """Bring ``room`` in line with the store (one resync per room at a time); the
        future is done once that is over."""
        running = self._resyncs.get(room.room_id)
        if running is not None:
            return running
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._resyncs[room.room_id] = done
        self.resyncs += 1
        self._spawn(self._resync(room, done))
        return done

    async def _resync(self, room: Room, done: asyncio.Future[None]) -> None:
        """Fill a gap from the room's history, or reload and re-snapshot everyone."""
        room_id = room.room_id
        try:
            for attempt in range(RESYNC_ATTEMPTS):
                try:
                    await self._sync(room)
                    break
                except (CommandError, *REDIS_DOWN):  # REDIS_DOWN: checkout's sales
                    await asyncio.sleep(min(2.0, 0.1 * (attempt + 1)))
        finally:
            self._resyncs.pop(room_id, None)
            if not done.done():
                done.set_result(None)
            buffered = self._resync_buffers.pop(room_id, [])
            if self.loaded.get(room_id) is room:
                for event in buffered:
                    self._receive(room, event)

    async def _sync(self, room: Room) -> None:
        """One resync: read the head, then fill the gap, reload, or drop a room gone."""
        room_id = room.room_id
        held = self.held(room)
        head = await self.store.head(room_id)
        verdict = judge(held, head)
        if room_id in self._diverged and verdict is not Verdict.GONE:
            verdict = Verdict.STALE  # the feed proved it; kept until acted upon
        if verdict is Verdict.GONE:
            self._diverged.discard(room_id)
            self._gone(room)
            return
        missing: list[RoomEvent] = []
        if verdict is not Verdict.STALE:
            stored = await self.store.history_after(room_id, max(0, held.seq - 1))
            at_seq = next((e.to_wire() for e in stored if e.seq == held.seq), None)
            last = held_event(room.state.history, held.seq)
            if verdict is Verdict.VERIFY or (at_seq is not None and last is not None):
                verdict = judge_tail(held.seq, last, at_seq)
            missing = [e for e in stored if e.seq > held.seq]
        if verdict is Verdict.STALE:
            await self._reload(room, held, head, went_back=True)
        elif gap_fillable(held.seq, head.seq, [e.seq for e in missing]):
            for event in missing:
                self._apply(room, event)
            room.release_waiters()
            self._servers[room_id] = head.server
        else:  # the history no longer holds what this node missed
            await self._reload(room, held, head, went_back=False)
        self._diverged.discard(room_id)

    async def _reload(self, room: Room, held: Held, head: Head, *, went_back: bool) -> None:
        """Replace the copy with the store's room and send every session a fresh
        snapshot; a room that went back under the same epoch gets a new epoch first."""
        room_id = room.room_id
        try:
            if went_back and head.epoch == held.epoch:
                await self.store.renew_epoch(room_id, held.epoch)
            fresh, hearts = await self._read(room_id)
        except RoomNotFound:
            self._gone(room)
            return
        log.warning(
            "room %s: %s (had epoch %s seq %d, the store epoch %s seq %d); fresh snapshots",
            room_id,
            "the store's room went back" if went_back else "history gap",
            held.epoch,
            held.seq,
            fresh.epoch,
            fresh.seq,
            extra={"room": room_id},
        )
        self.reloads += 1
        room.state = fresh
        self._servers[room_id] = head.server
        room.release_waiters()
        room.pending = []
        room.applied_at = []
        room.live["hearts_total"] = hearts
        for session in list(room.sessions):
            session.send(snapshot_frame(room, session))

    def _gone(self, room: Room) -> None:
        """The store has no such room any more: close its sessions here and drop it."""
        log.warning(
            "room %s: no longer in the store, closing its sessions",
            room.room_id,
            extra={"room": room.room_id},
        )
        for session in list(room.sessions):
            session.close(CloseCode.NO_SUCH_ROOM, "room no longer exists")
        room.sessions.clear()
        if self.loaded.get(room.room_id) is room:
            self.unload(room)
