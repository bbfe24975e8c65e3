"""What a ``livecart loadtest`` client process reports to its parent: a tick every
second and a final summary (``loadtest.summary`` adds them up across processes)."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from livecart.loadtest.stats import Histogram

if TYPE_CHECKING:
    from livecart.loadtest.shoppers import Worker


def snapshot(w: Worker) -> dict[str, Any]:
    """The tick sent to the parent every second: cumulative counters and this second's
    histograms (which it resets)."""
    everyone = w.everyone
    open_ = [v for v in w.conns.values() if v.open]
    lat, w.sampled.latencies = w.sampled.latencies, []
    delays = list(w.video_delays)
    w.video_delays.clear()  # the video viewers hold this list
    hist = Histogram()
    hist.add_many(lat)
    video = Histogram()
    video.add_many(delays)
    keys = [p.definite_keys for p in w.purchases.values()]
    tick: dict[str, Any] = {
        "kind": "tick",
        "w": w.plan.index,
        "t": round(w.now(), 3),
        "connected": len(open_),
        "samples_open": sum(1 for v in open_ if v.sample),
        "frames": sum(v.reader.frames - v.reader.control for v in everyone),
        "batches": sum(v.batches for v in everyone),
        "bytes": sum(v.reader.bytes for v in everyone),
        "events": w.sampled.events,
        "chat_seen": w.sampled.chat,
        "gaps": w.sampled.gaps,
        "repeats": w.sampled.repeats,
        "skipped": w.sampled.skipped + w.light.skipped,
        "live_viewers": w.sampled.live_viewers,
        "close_codes": dict(Counter(w.light.close_codes) + Counter(w.sampled.close_codes)),
        "count": dict(w.count),
        "errors": dict(w.errors),
        "buys": dict(w.buy_events),
        "keys": sum(p.presses for p in w.purchases.values()),
        "definite_keys": sum(keys),
        "lat": hist.to_dict(),
        "join": w.join.to_dict(),
        "rejoin": w.rejoin.to_dict(),
        "buy_lat": w.buy_hist.to_dict(),
        "video": {
            "sockets": sum(1 for v in w.videos if v.open),
            "frames": sum(v.reader.frames - v.reader.control for v in w.videos),
            "bytes": sum(v.reader.bytes for v in w.videos),
            # Receiving: more than the one "offline" message (light sockets do not
            # decode, so they count as live by what they received).
            "live": sum(1 for v in w.videos if v.reader.frames - v.reader.control > 2),
            "offline": sum(1 for v in w.videos if v.status in ("offline", "ended")),
            "lat": video.to_dict(),
        },
        "cpu": time.process_time() - w.cpu0,
    }
    w.join = Histogram()
    w.rejoin = Histogram()
    w.buy_hist = Histogram()
    return tick


def final(w: Worker) -> dict[str, Any]:
    """The summary sent to the parent once the run is over."""
    states = Counter(p.state for p in w.purchases.values())
    outcome = Counter(p.outcome or "none" for p in w.purchases.values() if p.presses)
    final: dict[str, Any] = {
        "kind": "final",
        "w": w.plan.index,
        "purchases": len(w.purchases),
        "pressed": sum(1 for p in w.purchases.values() if p.presses),
        "states": dict(states),
        "outcomes": dict(outcome),
        "buy_ms": w.buy_ms,
        "reply_times": w.reply_times,
        "reserved_times": w.reserved_times,
        "pay_ms": w.pay_ms,
        "orders": w.orders,
        "ordered_units": w.ordered_units,
        "reserved_units": sum(p.qty for p in w.purchases.values() if p.outcome == "reserved"),
        "held_units": sum(p.qty for p in w.purchases.values() if p.state == "abandoned"),
        "pay_outcomes": dict(Counter(p.pay_outcome for p in w.purchases.values() if p.pay_outcome)),
        "replies": sum(v.replies for v in w.everyone),
        "unreplied": len(w.inflight),
        "first_frames": sum(1 for v in w.everyone if v.first is not None),
    }
    return final
