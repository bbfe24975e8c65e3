"""What a ``livecart loadtest`` client process reports to its parent: a tick every
second and a final summary (``loadtest.summary`` adds them up across processes).

Both are read from a :class:`WorkerState`, the few things of the process they need.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from livecart.loadtest.purchase import Purchase
from livecart.loadtest.worker_counts import SaleFigures, WorkerCounts
from livecart.loadtest.wsclient import VideoViewer, Viewer


@dataclass(frozen=True)
class WorkerState:
    """A client process as its reports see it, at one moment."""

    index: int  # of the process
    t: float  # seconds since the start of the run
    cpu: float  # CPU seconds of the process since the start
    everyone: Sequence[Viewer]  # every connection ever opened
    open: Sequence[Viewer]  # the viewers' current connections that are open
    videos: Sequence[VideoViewer]
    purchases: Collection[Purchase]
    unreplied: int  # commands without a reply yet
    counts: WorkerCounts
    sales: SaleFigures


def _video(videos: Sequence[VideoViewer], counts: WorkerCounts) -> dict[str, Any]:
    return {
        "sockets": sum(1 for v in videos if v.open),
        "frames": sum(v.reader.frames - v.reader.control for v in videos),
        "bytes": sum(v.reader.bytes for v in videos),
        # Receiving: more than the one "offline" message (light sockets do not
        # decode, so they count as live by what they received).
        "live": sum(1 for v in videos if v.reader.frames - v.reader.control > 2),
        "offline": sum(1 for v in videos if v.status in ("offline", "ended")),
        "lat": counts.take_video_delays().to_dict(),
    }


def snapshot(w: WorkerState) -> dict[str, Any]:
    """The tick sent to the parent every second: cumulative counters and this second's
    histograms (which it resets)."""
    everyone, c = w.everyone, w.counts
    lat = c.take_latencies()
    join, rejoin = c.take_joins()
    return {
        "kind": "tick",
        "w": w.index,
        "t": round(w.t, 3),
        "connected": len(w.open),
        "samples_open": sum(1 for v in w.open if v.sample),
        "frames": sum(v.reader.frames - v.reader.control for v in everyone),
        "batches": sum(v.batches for v in everyone),
        "bytes": sum(v.reader.bytes for v in everyone),
        "events": c.sampled.events,
        "chat_seen": c.sampled.chat,
        "gaps": c.sampled.gaps,
        "repeats": c.sampled.repeats,
        "skipped": c.sampled.skipped + c.light.skipped,
        "live_viewers": c.sampled.live_viewers,
        "close_codes": dict(Counter(c.light.close_codes) + Counter(c.sampled.close_codes)),
        "count": dict(c.count),
        "errors": dict(c.errors),
        "buys": dict(w.sales.events),
        "keys": sum(p.presses for p in w.purchases),
        "definite_keys": sum(p.definite_keys for p in w.purchases),
        "lat": lat.to_dict(),
        "sent_lat": c.take_sent_latencies().to_dict(),
        "join": join.to_dict(),
        "rejoin": rejoin.to_dict(),
        "buy_lat": w.sales.take_buy_hist().to_dict(),
        "video": _video(w.videos, c),
        "cpu": w.cpu,
    }


def final(w: WorkerState) -> dict[str, Any]:
    """The summary sent to the parent once the run is over."""
    purchases, sales = w.purchases, w.sales
    states = Counter(p.state for p in purchases)
    outcome = Counter(p.outcome or "none" for p in purchases if p.presses)
    return {
        "kind": "final",
        "w": w.index,
        "purchases": len(purchases),
        "pressed": sum(1 for p in purchases if p.presses),
        "states": dict(states),
        "outcomes": dict(outcome),
        "buy_ms": sales.buy_ms,
        "reply_times": sales.reply_times,
        "reserved_times": sales.reserved_times,
        "pay_ms": sales.pay_ms,
        "orders": sales.orders,
        "ordered_units": sales.ordered_units,
        "reserved_units": sum(p.qty for p in purchases if p.outcome == "reserved"),
        "held_units": sum(p.qty for p in purchases if p.state == "abandoned"),
        "pay_outcomes": dict(Counter(p.pay_outcome for p in purchases if p.pay_outcome)),
        "replies": sum(v.replies for v in w.everyone),
        "unreplied": w.unreplied,
        "first_frames": sum(1 for v in w.everyone if v.first is not None),
    }
