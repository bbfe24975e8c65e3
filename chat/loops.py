"""The hub's two background loops: the ticker and the live-values (presence) loop.

- ``ticker``: it flushes each due room (``Room.begin_flush``: one frame per session,
  encoded once per format), writing a big room ``chunk_size()`` sessions (about 2 ms of
  writing) at a time with a turn of the event loop between chunks (so commands are read,
  and their Redis replies taken, during a long fan-out), and
  every ``BASE_TICK`` it publishes the hearts tapped on this node since, in one round
  trip. It sleeps until the next room is due, or until an event arrives in a room with
  nothing pending (``wake``: such a room is flushed at once). Each tick sets the rooms'
  interval from the measured cost of a session's write (``room.tick_interval``). It
  never awaits a client or the store.
- ``presence``: every second it reports this node's viewers of each room and reads back
  the room's viewers, explain ranking and hearts total; every 250 ms while a room has a
  sale that is not closed, it reads checkout's live values (a flash sale can sell out in
  a second). The same read carries the room's head (epoch, seq, the datastore's run_id),
  so every room is checked against the store once a second at no extra cost
  (``Rooms.check``: a copy that is no longer current is resynchronised, at worst
  reloaded with fresh snapshots). While a show is logged, a stock value that changed is
  logged for replay (``RoomStore.log_stock``: sampled, once per room across nodes).
  A room empty for ``UNLOAD_AFTER`` seconds is unloaded.
  While the store is away the values stay as they were. Every 250 ms while the room has
  a running auction (or one being paid) or an open giveaway it asks checkout to move it
  on (``CheckoutPort.lot_tick``: close when due by Redis' clock, settle, draw) and emits
  the events it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from livecart.cancellation import stop_if_cancelled
from livecart.chat.checkout_port import CheckoutPort
from livecart.chat.errors import CommandError
from livecart.chat.events import RoomEvent
from livecart.chat.room import BASE_TICK, WRITE_COST, Room, chunk_size, tick_interval
from livecart.chat.rooms import Rooms, Spawn
from livecart.chat.show_log import STOCK_SAMPLE_MS
from livecart.chat.store import RoomStore
from livecart.delivery_stages import DeliveryStages
from livecart.histogram import LATENCY_BUCKETS, TICK_BUCKETS, Buckets
from livecart.redis_client import REDIS_DOWN

log = logging.getLogger(__name__)

MEASURE_FROM = 200
"""Sessions a tick must write before its cost per write updates the estimate."""
MIN_WRITE_COST = 2e-6
MAX_WRITE_COST = 200e-6
PRESENCE_INTERVAL = 1.0
SALE_LIVE_INTERVAL = 0.25
UNLOAD_AFTER = 30.0


class Loops:
    """The hub's background loops over the rooms this node holds: ``ticker`` (the fan-out)
    and ``presence`` (viewer counts, live values, lots, head checks).

    Neither loop awaits a client: a fan-out writes through ``Session.write`` in chunks with
    a turn of the event loop between them. The ticker never awaits the store either. While
    the store or checkout is away the presence loop keeps the values it had and tries again
    next round; an unexpected error in one room is logged and the loop goes on to the next.
    """

    def __init__(
        self,
        rooms: Rooms,
        store: RoomStore,
        checkout: CheckoutPort | None,
        clock: Callable[[], float],
        spawn: Spawn,
    ) -> None:
        self.rooms = rooms
        self.store = store
        self.checkout = checkout
        self.clock = clock
        self._spawn = spawn
        self.deliveries = 0
        self.emit: Callable[[Room, RoomEvent], Awaitable[int]] | None = None
        # For /metrics: ticks run, each tick's duration, and per event flushed the time
        # from its creation (the event's ``ts``) to the write into this node's sockets.
        self.ticks = 0
        self.write_cost = WRITE_COST
        """Seconds per session written, a moving average over the ticks' fan-outs."""
        self._wake = asyncio.Event()
        self._woken_at = 0.0
        self.tick_seconds = Buckets(TICK_BUCKETS)
        self.delivery_seconds = Buckets(LATENCY_BUCKETS)
        # Where an event's time goes on this node, once per event or per room flush.
        self.stages = DeliveryStages()

    def wake(self) -> None:
        """An event arrived in a room with nothing pending: let the ticker look now."""
        if not self._wake.is_set():
            self._woken_at = time.monotonic()
            self._wake.set()

    async def ticker(self) -> None:
        """Run forever: flush each due room (one batch per room per tick, written in chunks
        of ``chunk_size`` sessions), publish the hearts tapped here every ``BASE_TICK``, and
        retune each room's tick from the measured cost of a write. Sleeps until the next
        room is due or ``wake`` is called. Ends only when cancelled."""
        loop = asyncio.get_running_loop()
        next_hearts = loop.time()
        while True:
            stop_if_cancelled()
            now = self.clock()
            delay = next_hearts - loop.time()
            for room in self.rooms.loaded.values():
                if room.pending or room.pending_live or room.pending_hearts:
                    delay = min(delay, room.next_flush - now)
            if delay > 0:
                self._wake.clear()
                wake_at = time.monotonic() + delay
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                if self._wake.is_set():  # an idle room's event: due at once
                    wake_at = min(wake_at, self._woken_at)
                # woke late: the loop was busy with something else (reads, replies...)
                self.stages.tick_late.observe(max(0.0, time.monotonic() - wake_at))
            publish = loop.time() >= next_hearts
            if publish:
                next_hearts = max(next_hearts + BASE_TICK, loop.time())
            await self._tick(publish)

    async def _tick(self, publish_hearts: bool) -> None:
        """Flush every due room (and, if ``publish_hearts``, send this node's hearts)."""
        started = time.perf_counter()
        wall = time.time()
        now = self.clock()
        rooms = list(self.rooms.loaded.values())
        tick = tick_interval(sum(len(r.sessions) for r in rooms), self.write_cost)
        chunk = chunk_size(self.write_cost)
        hearts: dict[str, int] = {}
        writing = 0.0
        visited = 0
        for room in rooms:
            room.tick = tick
            if publish_hearts and room.local_hearts:
                hearts[room.room_id] = room.local_hearts
                room.local_hearts = 0
            if not room.due(now):
                continue
            events = room.pending
            applied = room.applied_at
            room.applied_at = []
            flush_wall = time.time()
            flush_started = time.perf_counter()
            try:
                fanout = room.begin_flush(now)
                while fanout is not None:
                    t0 = time.perf_counter()
                    visited += fanout.write(chunk)
                    writing += time.perf_counter() - t0
                    if fanout.done:
                        break
                    await asyncio.sleep(0)  # read what arrived; never waits on a session
            except Exception:
                log.exception("flush of room %s failed", room.room_id, extra={"room": room.room_id})
                continue
            if fanout is not None and fanout.written:
                self.deliveries += fanout.written
                # the write loop as the last session of the room sees it (with the turns
                # of the loop between chunks)
                self.stages.flush.observe(time.perf_counter() - flush_started)
                self._observe_delivery(events, wall)
                if len(applied) == len(events):  # not after a reload emptied pending
                    self.stages.observe_flushed(
                        [e.get("ts", 0) for e in events], applied, flush_wall
                    )
        if visited >= MEASURE_FROM:
            cost = min(MAX_WRITE_COST, max(MIN_WRITE_COST, writing / visited))
            self.write_cost += 0.2 * (cost - self.write_cost)
        self.ticks += 1
        self.tick_seconds.observe(time.perf_counter() - started)
        if hearts:
            self._spawn(self._publish_hearts(hearts))

    def _observe_delivery(self, events: list[dict[str, Any]], wall: float) -> None:
        """One latency sample per event of a flushed batch (not per socket)."""
        observe = self.delivery_seconds.observe
        for event in events:
            ts = event.get("ts")
            if ts:
                observe(max(0.0, wall - ts / 1000))

    async def _publish_hearts(self, hearts: dict[str, int]) -> None:
        # Hearts are ephemeral: taps lost while the store is away are acceptable.
        with contextlib.suppress(CommandError):
            await self.store.add_hearts(hearts)

    async def presence(self) -> None:
        """Run forever, every ``SALE_LIVE_INTERVAL``: move on each room's auction or
        giveaway, refresh live values while a sale is open, and every ``PRESENCE_INTERVAL``
        report this node's viewers, read back the room's totals and head (resyncing a copy
        that is no longer current) and unload rooms empty for ``UNLOAD_AFTER`` seconds.
        Every step is idempotent, so a round that fails (store away) is simply repeated by
        the next. Ends only when cancelled."""
        rounds_per_presence = round(PRESENCE_INTERVAL / SALE_LIVE_INTERVAL)
        n = 0
        while True:
            stop_if_cancelled()
            await asyncio.sleep(SALE_LIVE_INTERVAL)
            n += 1
            presence = n % rounds_per_presence == 0
            now = self.clock()
            for room in list(self.rooms.loaded.values()):
                idle = room.empty_since is not None and now - room.empty_since > UNLOAD_AFTER
                if presence and idle and not room.sessions:
                    self.rooms.unload(room)
                    continue
                selling = any(s.get("state") != "closed" for s in room.state.sales.values())
                if self._has_lot(room):
                    try:
                        await self.move_lots(room)
                    except (*REDIS_DOWN, CommandError):
                        pass  # the next round tries again; every step is idempotent
                    except Exception:
                        log.exception(
                            "auction of room %s failed", room.room_id, extra={"room": room.room_id}
                        )
                if not (presence or selling):
                    continue
                try:
                    await self.refresh_live(room, presence=presence)
                except (*REDIS_DOWN, CommandError):  # REDIS_DOWN: checkout's live values
                    pass  # the store is away: the values stay as they were until it is back
                except Exception:
                    log.exception(
                        "live values of room %s failed", room.room_id, extra={"room": room.room_id}
                    )

    @staticmethod
    def _has_lot(room: Room) -> bool:
        auction, giveaway = room.state.auction, room.state.giveaway
        return (auction is not None and auction.get("state") in ("running", "won")) or (
            giveaway is not None and giveaway.get("state") == "open"
        )

    async def move_lots(self, room: Room) -> None:
        """Close, settle or draw the room's auction and giveaway when due; emit the
        changes this node made."""
        if self.checkout is None or self.emit is None:
            return
        now = time.monotonic()
        watchers = [(s.vid, s.name, now - s.joined_at) for s in room.sessions if not s.is_host]
        for event in await self.checkout.lot_tick(room.room_id, room.state, watchers):
            await self.emit(room, event)

    async def refresh_live(self, room: Room, presence: bool = True) -> None:
        """Report this node's viewers and read the room's live values (one round trip,
        plus one for checkout when the room has sales)."""
        if presence:
            # distinct identities: one viewer on several sockets counts once
            viewers = len({s.vid for s in room.sessions if not s.is_host})
            held = self.rooms.held(room)
            read = await self.store.presence(room.room_id, viewers)
            if read.head is not None:
                self.rooms.check(room, held, read.head)  # went back? resync (in the background)
            room.set_live("viewers", read.viewers)
            room.set_live("explain", read.explain)
            room.live["hearts_total"] = max(room.live.get("hearts_total", 0), read.hearts)
        if self.checkout is not None and room.state.sales:
            for name, value in (await self.checkout.live(room.room_id, room.state)).items():
                if name == "bought":
                    if value:
                        room.pending_live["bought"] = value
                else:
                    room.set_live(name, value)
            stock = room.live.get("stock")
            if isinstance(stock, dict) and stock != room.logged_stock:
                # the stock label of a recorded show, for replay: one script call while
                # this node knows of a change not yet logged (none in steady state)
                room.logged_stock = await self.store.log_stock(
                    room.room_id, stock, int(time.time() * 1000), STOCK_SAMPLE_MS
                )
