"""The stages of an event's way through one node, as histograms the hub fills.

A chat message goes: the sender's socket -> the hub (``Hub.handle``, with the frame
decoded) -> its timestamp (``ts``: the command budget, parse and authorisation done) ->
the chat rules -> the emit's Redis round trip (the Lua call that sequences, stores and
publishes it) -> the pub/sub feed of every node -> applied to the room there
(``Room.enqueue``) -> the wait for the room's next tick -> the room's flush (the write
loop over its sockets) -> the viewer. Each stage below is one histogram, observed once
per event (or once per room flush, or per tick), never per socket; ``/metrics`` exports
them as ``livecart_delivery_stage_seconds{stage=...}`` and ``/api/stats`` as JSON, and
``make bench`` prints their p50/p99 over its window beside the viewers' own figures.

``tick_late`` is no step of that way but says how busy the worker's loop was: a stage
measured on the loop (the emit's round trip, the apply) includes the time its reply or
message waited while the loop ran a flush or other work.

Plain data, no event loop; one owner updates it, readers only read.
"""

from __future__ import annotations

from livecart.histogram import Buckets

STAGE_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025,
    0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.35, 0.4,
    0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Seconds; fine enough below a tick for the bench's p50/p99 (read from bucket counts)."""

METRIC = "livecart_delivery_stage_seconds"

STAGES: tuple[tuple[str, str], ...] = (
    ("read_to_stamp", "from the hub receiving a decoded command to its timestamp (the "
     "command budget, parse, authorisation), one sample per command"),
    ("emit_round_trip", "the emit's Redis round trip (the Lua call that sequences, stores "
     "and publishes the event), one sample per event emitted on this worker"),
    ("stamp_to_applied", "from an event's timestamp to its apply on this worker (Lua, "
     "pub/sub, decode, apply), one sample per event"),
    ("applied_to_flush", "from an event's apply to the start of its room's flush on this "
     "worker (the wait for the room's tick), one sample per event"),
    ("flush", "one room flush on this worker: the write loop over the room's sockets, "
     "one sample per flush that wrote"),
    ("tick_late", "how late the ticker woke past its time: the worker's loop busy with "
     "other work (reads, handshakes, Redis replies), one sample per tick that slept"),
)  # fmt: skip
"""(label, meaning) of each stage, in the order an event goes through them."""


class DeliveryStages:
    """One :class:`Buckets` per stage of :data:`STAGES`, as attributes of the same names."""

    __slots__ = (
        "applied_to_flush",
        "emit_round_trip",
        "flush",
        "read_to_stamp",
        "stamp_to_applied",
        "tick_late",
    )

    def __init__(self) -> None:
        self.read_to_stamp = Buckets(STAGE_BUCKETS)
        self.emit_round_trip = Buckets(STAGE_BUCKETS)
        self.stamp_to_applied = Buckets(STAGE_BUCKETS)
        self.applied_to_flush = Buckets(STAGE_BUCKETS)
        self.flush = Buckets(STAGE_BUCKETS)
        self.tick_late = Buckets(STAGE_BUCKETS)

    def by_name(self) -> dict[str, Buckets]:
        """``{stage label: its buckets}`` in the order of :data:`STAGES`."""
        return {name: getattr(self, name) for name, _ in STAGES}

    def observe_flushed(
        self, stamps_ms: list[float], applied: list[float], flush_start: float
    ) -> None:
        """One room flush's events: their timestamps (ms, the events' ``ts``), the wall
        times (s) they were applied here and the wall time the flush started; one sample
        per event in ``stamp_to_applied`` and ``applied_to_flush``."""
        to_applied = self.stamp_to_applied.observe
        to_flush = self.applied_to_flush.observe
        for ts, at in zip(stamps_ms, applied, strict=True):
            if ts:
                to_applied(max(0.0, at - ts / 1000))
            to_flush(max(0.0, flush_start - at))
