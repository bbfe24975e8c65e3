"""A room on this node: its state, its sessions, and the tick that fans events out.

The hot path is the fan-out (``begin_flush`` then ``Fanout.write``): everything the room
produced since the last tick becomes ONE batch, encoded at most once per wire format
(and once more per format for the lean, state-only variant that lagging sessions get),
and the same bytes are written to every session. Writing never awaits a session; the
ticker writes a big room in chunks of about ``CHUNK_SECONDS`` (``chunk_size``) and lets
the event loop run between chunks, so commands that arrive during a long fan-out are
read, and their Redis replies taken, within a chunk, not held for the whole of it. Its
cost grows with sessions x ticks, not with the chat rate.

How long a room collects events (its tick) follows the measured cost of writing:
``tick_interval`` keeps the node's fan-out writes to about ``FLUSH_SHARE`` of the
loop's time, between ``BASE_TICK`` and ``MAX_TICK``. A room with nothing pending that
gets an event is flushed at once (the ticker is woken), not at the next tick.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livecart.auction_versions import newer_auction
from livecart.chat.codec import WireFormat, encode_frame
from livecart.chat.errors import CloseCode
from livecart.chat.events import CHAT_TYPES, CONFLATED_TYPES
from livecart.chat.room_state import RoomState
from livecart.chat.session import HARD_LIMIT, LAG_OFF, LAG_ON, LAG_TIMEOUT, Session

BASE_TICK = 0.05
MAX_TICK = 0.2
FLUSH_SHARE = 0.6
"""The share of the loop's time the node's fan-out writes may take at most (0.5 and
0.6 measured at 5,000 viewers x 500 chat messages/s: p99 from the sender's clock
272-307 ms and 179-222 ms, for 15% more server CPU)."""
WRITE_COST = 12.5e-6
"""Seconds one session's write takes before any was measured (a loopback TCP write is
8-10 µs of kernel time on a 2-core machine, plus the loop around it)."""
CHUNK_SECONDS = 0.002
"""Time a fan-out writes between two turns of the event loop. Each await of a command
(a Redis reply, a pub/sub message, a pooled connection handed over) costs a turn, and a
bid takes about seven: with chunks of 1,000 sessions (~15 ms) a bid in a storm at 5,000
viewers waited 100-300 ms for the fan-out, with 2 ms chunks 20-40 ms."""
MIN_CHUNK = 50
MAX_CHUNK = 1000
CONFLATE_FROM = 1000
"""Sessions from which every session, not only a lagging one, gets only the latest
auction event of a batch: the intermediate ones are the bid feed, sampled, while the
price and the leader (the latest state) stay exact."""


def tick_interval(sessions: int, write_cost: float = WRITE_COST) -> float:
    """How long a room collects events before a flush, given the ``sessions`` the node
    writes to per tick and the measured ``write_cost`` (seconds per session written):
    long enough that writing takes at most ``FLUSH_SHARE`` of the time, within
    ``BASE_TICK`` (50 ms) and ``MAX_TICK`` (200 ms)."""
    return min(MAX_TICK, max(BASE_TICK, sessions * write_cost / FLUSH_SHARE))


def _newest_conflated(events: list[dict[str, Any]]) -> dict[Any, int]:
    """For each conflated type (the auction), the index of its newest event in
    ``events``: the one of the highest ``version`` (``livecart.auction_versions``), which
    is the latest but when events of parallel bids came in another order."""
    newest: dict[Any, int] = {}
    for i, e in enumerate(events):
        kind = e.get("type")
        if kind not in CONFLATED_TYPES:
            continue
        held = newest.get(kind)
        incoming = e.get("auction")
        if held is None or not isinstance(incoming, dict):
            newest[kind] = i
            continue
        before = events[held].get("auction")
        if not isinstance(before, dict) or newer_auction(before, incoming):
            newest[kind] = i
    return newest


def chunk_size(write_cost: float = WRITE_COST) -> int:
    """Sessions a fan-out writes between two turns of the loop: ``CHUNK_SECONDS`` of
    writing at the measured ``write_cost``, within ``MIN_CHUNK`` and ``MAX_CHUNK``."""
    return min(MAX_CHUNK, max(MIN_CHUNK, int(CHUNK_SECONDS / max(write_cost, 1e-9))))


@dataclass(slots=True)
class FanoutTotals:
    """The fan-out counters of rooms no longer loaded, so that node totals never go back
    when a room is unloaded (``Rooms.unload`` adds the room's counters here)."""

    frames: int = 0
    bytes: int = 0
    chat_skipped: int = 0
    slow_closed: int = 0

    def add(self, room: Room) -> None:
        """Add a room's fan-out counters to the totals (when it is unloaded)."""
        self.frames += room.frames_written
        self.bytes += room.bytes_written
        self.chat_skipped += room.chat_skipped
        self.slow_closed += room.slow_closed


class Room:
    """One room on this node: its ``RoomState``, its sessions, the events and live values
    waiting for the next tick, and the commands waiting for an event to be applied here.

    It is a plain in-memory object on the event loop: the feed fills it (``enqueue``,
    ``set_live``), the ticker empties it (``begin_flush``) and writes one batch, encoded at
    most once per wire format, to every session, never awaiting one. A command's reply waits
    on ``applied(seq)``, released in ``seq`` order by ``release_waiters``."""

    def __init__(self, state: RoomState, hearts_total: int = 0) -> None:
        self.state = state
        self.sessions: set[Session] = set()
        self.pending: list[dict[str, Any]] = []
        self.applied_at: list[float] = []
        """The wall time (s) each event of ``pending`` was applied here, in its order: the
        ticker reads it once per flush for the delivery stages (``livecart.delivery_stages``)."""
        self.pending_live: dict[str, Any] = {}
        self.pending_hearts = 0
        self.local_hearts = 0  # tapped on this node, not yet published
        self.live: dict[str, Any] = {"viewers": 0, "hearts_total": hearts_total, "explain": []}
        self.logged_stock: dict[str, int] = {}
        """Units per product as the show's log holds them (``RoomStore.log_stock``)."""
        self.next_flush = 0.0
        self.tick = BASE_TICK
        """This room's tick (``tick_interval``), set by the ticker from the node's cost."""
        self.wake: Callable[[], None] | None = None
        """Called when an event arrives with nothing pending (the ticker's wake-up)."""
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.empty_since: float | None = None
        self.banned_addresses: dict[str, str] = {}
        """Address key -> banned vid: the addresses this node saw a banned viewer on
        (a ban covers them for the show; an unban lifts it). Per node."""
        # Counters for /metrics and the benchmark.
        self.frames_written = 0
        self.bytes_written = 0
        self.chat_skipped = 0
        self.slow_closed = 0

    @property
    def room_id(self) -> str:
        """The room's id (its state's)."""
        return self.state.room_id

    def enqueue(self, event: dict[str, Any]) -> None:
        """Add an applied event's wire dict (``RoomState.apply``'s result) to the next batch."""
        if not self.pending and self.wake is not None:
            self.wake()
        self.pending.append(event)
        self.applied_at.append(time.time())

    def applied(self, seq: int) -> asyncio.Future[None] | None:
        """A future done once this node's state has applied ``seq`` (None if it has)."""
        if self.state.seq >= seq:
            return None
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        return future

    def release_waiters(self) -> None:
        """Wake the commands waiting for an event this node has now applied."""
        if not self._waiters:
            return
        seq = self.state.seq
        keep = []
        for wanted, future in self._waiters:
            if wanted <= seq:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((wanted, future))
        self._waiters = keep

    def set_live(self, name: str, value: Any) -> None:
        """Record a live value; it goes out with the next batch only if it changed."""
        if self.live.get(name) != value:
            self.live[name] = value
            self.pending_live[name] = value

    def due(self, now: float) -> bool:
        """Whether the room has something to send and its next flush time has come."""
        return bool(self.pending or self.pending_live or self.pending_hearts) and (
            now >= self.next_flush
        )

    def begin_flush(self, now: float) -> Fanout | None:
        """Take the tick's batch (None if there is nothing to send) and the sessions to
        write it to: those of this moment. A session that joins while the fan-out runs
        is not among them: its snapshot already holds the batch's events."""
        self.next_flush = now + self.tick
        events = self.pending
        live = self.pending_live
        if self.pending_hearts:
            live["hearts"] = self.pending_hearts
            self.pending_hearts = 0
        if not events and not live:
            return None
        self.pending = []
        self.pending_live = {}
        batch: dict[str, Any] = {"t": "batch", "events": events}
        if live:
            batch["live"] = live
        n_chat = sum(1 for e in events if e.get("type") in CHAT_TYPES)
        n_conflated = sum(1 for e in events if e.get("type") in CONFLATED_TYPES)
        if n_conflated > 1:
            n_chat += n_conflated - 1  # a lagging session gets only the latest of them
            if len(self.sessions) >= CONFLATE_FROM:  # a huge room: everyone does
                batch = self._conflated(events, live, n_conflated - 1)
        return Fanout(self, now, list(self.sessions), events, live, batch, n_chat)

    @staticmethod
    def _conflated(events: list[dict[str, Any]], live: dict[str, Any], n: int) -> dict[str, Any]:
        """The batch with only the newest of each conflated type; ``skipped`` counts the
        ``n`` left out."""
        latest = _newest_conflated(events)
        kept = [
            e
            for i, e in enumerate(events)
            if e.get("type") not in CONFLATED_TYPES or latest[e.get("type")] == i
        ]
        batch: dict[str, Any] = {"t": "batch", "events": kept, "skipped": n}
        if live:
            batch["live"] = live
        return batch

    @staticmethod
    def _lean_frame(
        fmt: WireFormat, events: list[dict[str, Any]], live: dict[str, Any], n_chat: int
    ) -> bytes:
        """The batch without chat and with only the latest of each conflated type (the
        auction): state events, live values and the count left out."""
        latest = _newest_conflated(events)
        kept = [
            e
            for i, e in enumerate(events)
            if e.get("type") not in CHAT_TYPES
            and (e.get("type") not in CONFLATED_TYPES or latest[e.get("type")] == i)
        ]
        lean: dict[str, Any] = {"t": "batch", "events": kept, "skipped": n_chat}
        if live:
            lean["live"] = live
        return encode_frame(fmt, lean)

    def live_snapshot(self) -> dict[str, Any]:
        """A copy of the room's live values (viewers, hearts total, explain ranking, ...)."""
        return {k: v for k, v in self.live.items()}


class Fanout:
    """One batch being written to a room's sessions, ``write(n)`` sessions at a time.

    The frames are encoded on first need, once per wire format (full, and lean for
    lagging sessions). Each session's unsent output decides, as docs/protocol.md says,
    whether it gets the full frame, the lean one, or is closed with 4008."""

    __slots__ = (
        "batch",
        "events",
        "full",
        "lean",
        "live",
        "n_chat",
        "next",
        "now",
        "room",
        "sessions",
        "written",
    )  # fmt: skip

    def __init__(
        self,
        room: Room,
        now: float,
        sessions: list[Session],
        events: list[dict[str, Any]],
        live: dict[str, Any],
        batch: dict[str, Any],
        n_chat: int,
    ) -> None:
        self.room = room
        self.now = now
        self.sessions = sessions
        self.events = events
        self.live = live
        self.batch = batch
        self.n_chat = n_chat
        self.next = 0
        self.written = 0
        self.full: dict[WireFormat, bytes] = {}
        self.lean: dict[WireFormat, bytes] = {}

    @property
    def done(self) -> bool:
        """Whether every session of the fan-out has been visited."""
        return self.next >= len(self.sessions)

    def write(self, n: int) -> int:
        """Write the batch to the next ``n`` sessions (never awaits); return how many
        sessions were visited."""
        room, now, n_chat = self.room, self.now, self.n_chat
        full, lean = self.full, self.lean
        start = self.next
        chunk = self.sessions[start : start + n]
        self.next = start + len(chunk)
        dropped: list[Session] = []
        written = 0
        nbytes = 0
        for session in chunk:
            transport = session.transport
            # Session.unsent, inlined: the kernel's queue is probed about once a
            # second while a session keeps up, at every tick once it is behind.
            backlog = transport.get_write_buffer_size()
            if backlog or session.lagging or now >= session.probe_at:
                backlog += session.probe(now)
            else:
                backlog += session.kernel_queued
            if backlog > HARD_LIMIT:
                dropped.append(session)
                continue
            if session.lagging:
                if backlog < LAG_OFF:
                    session.lagging = False
                elif now - session.lagging_since > LAG_TIMEOUT:
                    dropped.append(session)
                    continue
            elif backlog > LAG_ON:
                session.lagging = True
                session.lagging_since = now
            fmt = session.fmt
            frame: bytes | None
            if session.lagging and n_chat:
                frame = lean.get(fmt)
                if frame is None:
                    frame = lean[fmt] = room._lean_frame(fmt, self.events, self.live, n_chat)
                room.chat_skipped += n_chat
            else:
                frame = full.get(fmt)
                if frame is None:
                    frame = full[fmt] = encode_frame(fmt, self.batch)
            if not transport.is_closing():
                transport.write(frame)
                written += 1
                nbytes += len(frame)
        for session in dropped:
            room.sessions.discard(session)
            room.slow_closed += 1
            session.close(CloseCode.SLOW_CONSUMER, "slow consumer")
        self.written += written
        room.frames_written += written
        room.bytes_written += nbytes
        return len(chunk)
