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
- a ban closes the banned viewer's sessions here (4003) on every node.
Nothing here awaits a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from livecart.chat.checkout_port import CheckoutPort
from livecart.chat.errors import CloseCode, CommandError, ErrorCode, RoomNotFound, SequenceGap
from livecart.chat.events import Moderated, RoomEvent
from livecart.chat.join import snapshot_frame
from livecart.chat.room import Room
from livecart.chat.room_state import RoomState
from livecart.chat.store import RoomStore
from livecart.redis_client import REDIS_DOWN

log = logging.getLogger(__name__)

RESYNC_ATTEMPTS = 50

Spawn = Callable[[Awaitable[Any]], None]
Pending = Callable[[Room], None]


class Rooms:
    """Implements the store's ``FeedListener`` for this node's rooms."""

    def __init__(self, store: RoomStore, checkout: CheckoutPort | None, spawn: Spawn) -> None:
        self.store = store
        self.checkout = checkout
        self._spawn = spawn
        self.loaded: dict[str, Room] = {}
        self.feed = store.feed(self)
        self._loading: dict[str, asyncio.Future[Room]] = {}
        self._buffers: dict[str, list[Pending]] = {}  # feed messages while a room loads
        self._resync_buffers: dict[str, list[RoomEvent]] = {}
        self._resyncing: set[str] = set()

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
        return state, hearts

    async def _load(self, room_id: str, done: asyncio.Future[Room]) -> None:
        self._buffers[room_id] = []
        try:
            await self.feed.subscribe(room_id)
            room = Room(*await self._read(room_id))
            self.loaded[room_id] = room
            for pending in self._buffers.pop(room_id, []):
                pending(room)
            done.set_result(room)
        except RoomNotFound as exc:
            self.feed.unsubscribe(room_id)
            done.set_exception(exc)
        except (TimeoutError, CommandError, *REDIS_DOWN) as exc:  # REDIS_DOWN: checkout
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

    def unload(self, room: Room) -> None:
        """Drop a room nobody here watches; its presence entry and what checkout keeps
        for it on this node go with it."""
        self.loaded.pop(room.room_id, None)
        self.feed.unsubscribe(room.room_id)
        if self.checkout is not None:
            self.checkout.forget(room.room_id)
        self._spawn(self._leave_presence(room.room_id))

    async def _leave_presence(self, room_id: str) -> None:
        with contextlib.suppress(CommandError):
            await self.store.presence(room_id, 0)

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
        self._deliver(room_id, lambda room: self._receive(room, event))

    def on_hearts(self, room_id: str, n: int, total: int) -> None:
        def add(room: Room) -> None:
            room.pending_hearts += n
            room.live["hearts_total"] = max(room.live.get("hearts_total", 0), total)

        self._deliver(room_id, add)

    def on_words(self, room_id: str, words: list[str]) -> None:
        self._deliver(room_id, lambda room: room.state.set_banned_words(words))

    async def on_reconnect(self) -> None:
        for room in list(self.loaded.values()):
            self._spawn(self._resync(room))

    def _receive(self, room: Room, event: RoomEvent) -> None:
        if room.room_id in self._resyncing:
            self._resync_buffers.setdefault(room.room_id, []).append(event)
            return
        try:
            self._apply(room, event)
        except SequenceGap:
            self._resync_buffers.setdefault(room.room_id, []).append(event)
            self._spawn(self._resync(room))
            return
        room.release_waiters()

    def _apply(self, room: Room, event: RoomEvent) -> None:
        wire = room.state.apply(event)
        if wire is None:
            return
        room.enqueue(wire)
        if isinstance(event, Moderated) and event.action == "ban":
            for session in [s for s in room.sessions if s.vid == event.vid]:
                room.sessions.discard(session)
                session.close(CloseCode.BANNED, "banned")

    # -- gaps --------------------------------------------------------------------------------

    async def _resync(self, room: Room) -> None:
        """Fill a gap from the room's history, or reload and re-snapshot everyone."""
        room_id = room.room_id
        if room_id in self._resyncing:
            return
        self._resyncing.add(room_id)
        try:
            for attempt in range(RESYNC_ATTEMPTS):
                try:
                    await self._fill_gap(room)
                    break
                except (CommandError, *REDIS_DOWN):  # REDIS_DOWN: checkout's sales
                    await asyncio.sleep(min(2.0, 0.1 * (attempt + 1)))
        finally:
            self._resyncing.discard(room_id)
            for event in self._resync_buffers.pop(room_id, []):
                self._receive(room, event)

    async def _fill_gap(self, room: Room) -> None:
        state = room.state
        meta = await self.store.meta(room.room_id)
        missing = await self.store.history_after(room.room_id, state.seq)
        if meta.get("epoch") == state.epoch and (not missing or missing[0].seq == state.seq + 1):
            for event in missing:
                self._apply(room, event)
            room.release_waiters()
            return
        if not meta:
            for session in list(room.sessions):
                session.close(CloseCode.NO_SUCH_ROOM, "room no longer exists")
            room.sessions.clear()
            return
        fresh, hearts = await self._read(room.room_id)
        log.warning("room %s: history gap, sending fresh snapshots", room.room_id)
        room.state = fresh
        room.release_waiters()
        room.pending = []
        room.live["hearts_total"] = hearts
        for session in list(room.sessions):
            session.send(snapshot_frame(room, session))
