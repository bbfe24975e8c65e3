"""What the hub counts, as one plain snapshot (``Hub.figures()``) for ``/metrics``.

Counters only grow for the life of the process (a room unloaded keeps its share in the
node's totals); gauges are per room loaded on this node. The hot path only adds to
plain integers; this snapshot is taken at scrape time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from livecart.delivery_stages import DeliveryStages
from livecart.histogram import Buckets


@dataclass(slots=True)
class RoomFigures:
    """One room on this node: its connections and, of those, its viewers (not hosts)."""

    connections: int
    viewers: int


@dataclass(slots=True)
class HubFigures:
    """The hub's totals for /metrics and the collector, read at one moment
    (``Hub.figures``): per room, and the node's fan-out, tick and delivery counters."""

    rooms: dict[str, RoomFigures]
    frames: int
    """Frames written to sockets (one batch to one session)."""
    bytes: int
    """Bytes of those frames."""
    deliveries: int
    """Batch frames delivered by the ticker (equals ``frames`` unless a flush failed)."""
    chat_skipped: int
    """Chat events left out of the lean frames sent to lagging sessions."""
    slow_closed: int
    """Sessions closed with 4008 (slow consumer)."""
    ticks: int
    tick_seconds: Buckets
    delivery_seconds: Buckets
    stages: DeliveryStages
    """Where an event's time goes on this node (``livecart.delivery_stages``)."""
    commands: Counter[tuple[str, str]]
    """(command, ``ok`` or error code) -> count."""
    feed_received: int
    feed_reconnects: int
    feed_losses: int
    gaps: int
    resyncs: int
    reloads: int
