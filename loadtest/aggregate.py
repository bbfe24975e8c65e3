"""Merging the client processes' ticks into one time series and one summary (pure).

Every process sends a tick each second with cumulative counters and that second's
histograms (see ``loadtest.shoppers``). ``Aggregate.add`` files them by second; a row
adds the processes' counters up (a process that missed a second counts with its
previous tick) and turns them into rates by taking the difference with the row before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from livecart.loadtest.stats import Histogram, percentiles

# Error counters that are outcomes of the scenario, not failures.
NOT_ERRORS = ("chat:slow_mode",)


def _sum(ticks: Iterable[dict[str, Any]], *path: str) -> float:
    total = 0.0
    for tick in ticks:
        node: Any = tick
        for part in path:
            node = node.get(part, 0) if isinstance(node, dict) else 0
        total += float(node or 0)
    return total


def _counter(ticks: Iterable[dict[str, Any]], name: str) -> Counter[str]:
    total: Counter[str] = Counter()
    for tick in ticks:
        total.update(tick.get(name) or {})
    return total


def error_count(errors: Counter[str], drops: float) -> int:
    counted: int = sum(n for k, n in errors.items() if k not in NOT_ERRORS)
    return counted + int(drops)


class Aggregate:
    """The ticks of ``workers`` client processes filed by second, the latency histograms
    merged per second and over the run, and the server's CPU time per second
    (``server_cpu``, filled by the collector). Pure: no clock, no I/O."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.by_second: dict[int, dict[int, dict[str, Any]]] = {}
        self.lat: dict[int, Histogram] = {}
        self.video_lat: dict[int, Histogram] = {}
        self.total_lat = Histogram()
        self.total_sent_lat = Histogram()  # from the senders' clocks
        self.total_join = Histogram()
        self.total_rejoin = Histogram()
        self.total_buy = Histogram()
        self.total_video = Histogram()
        self.server_cpu: dict[int, float] = {}  # second -> server CPU-seconds (cumulative)

    def add(self, tick: dict[str, Any]) -> int:
        """File one process's tick (``w``: the process, ``t``: its second) and merge its
        histograms; returns the second it was filed under."""
        sec = max(0, round(float(tick["t"])))
        self.by_second.setdefault(sec, {})[tick["w"]] = tick
        self.lat.setdefault(sec, Histogram()).merge(tick["lat"])
        self.video_lat.setdefault(sec, Histogram()).merge(tick["video"]["lat"])
        self.total_lat.merge(tick["lat"])
        if "sent_lat" in tick:
            self.total_sent_lat.merge(tick["sent_lat"])
        self.total_join.merge(tick["join"])
        self.total_rejoin.merge(tick["rejoin"])
        self.total_buy.merge(tick["buy_lat"])
        self.total_video.merge(tick["video"]["lat"])
        return sec

    def complete(self, sec: int) -> bool:
        """Whether every process has sent a tick for ``sec`` (its row is then final)."""
        return len(self.by_second.get(sec, {})) >= self.workers

    def ticks_at(self, sec: int) -> list[dict[str, Any]]:
        """Each process's latest tick at or before ``sec``."""
        out: dict[int, dict[str, Any]] = {}
        for s in sorted(k for k in self.by_second if k <= sec):
            out.update(self.by_second[s])
        return list(out.values())

    def row(self, sec: int) -> dict[str, Any]:
        """Second ``sec``'s row of the time series: connections, rates (the difference with
        the second before, a process that missed a second counting with its previous
        tick), that second's latency percentiles and each process's CPU."""
        now, before = self.ticks_at(sec), self.ticks_at(sec - 1)

        def delta(*path: str) -> float:
            return _sum(now, *path) - _sum(before, *path)

        connected = _sum(now, "connected")
        samples = _sum(now, "samples_open")
        events = delta("events")
        buys_now, buys_before = _counter(now, "buys"), _counter(before, "buys")
        errors_now = error_count(_counter(now, "errors"), _sum(now, "count", "drops"))
        errors_before = error_count(_counter(before, "errors"), _sum(before, "count", "drops"))
        lat = percentiles(self.lat.get(sec, Histogram()))
        video = percentiles(self.video_lat.get(sec, Histogram()))
        row: dict[str, Any] = {
            "t": sec,
            "connected": int(connected),
            "msgs": delta("count", "chat_ok"),
            "chat_sent": delta("count", "chat_sent"),
            "frames": delta("batches"),
            "mbytes": round(delta("bytes") / 1e6, 3),
            "deliveries": round(events / samples * connected) if samples else None,
            "p50": lat["p50"],
            "p90": lat["p90"],
            "p99": lat["p99"],
            "max": lat["max"],
            "errors": errors_now - errors_before,
            "buys": {
                k: buys_now[k] - buys_before.get(k, 0)
                for k in buys_now
                if buys_now[k] - buys_before.get(k, 0)
            },
            "cpu": [
                round(100 * (t.get("cpu", 0) - b.get("cpu", 0)), 1)
                for t, b in zip(sorted(now, key=_w), _match(before, now), strict=True)
            ],
            "video_frames": delta("video", "frames"),
            "video_p99": video["p99"],
        }
        if sec in self.server_cpu and sec - 1 in self.server_cpu:
            row["server_cpu"] = round(100 * (self.server_cpu[sec] - self.server_cpu[sec - 1]), 1)
        return row

    def series(self) -> list[dict[str, Any]]:
        """One ``row`` per second from 1 to the last second any process reported ([] before
        the first tick)."""
        if not self.by_second:
            return []
        return [self.row(s) for s in range(1, max(self.by_second) + 1)]

    def totals(self) -> dict[str, Any]:
        """The run's cumulative counters as of the last second: the processes' latest ticks
        added up (``live_viewers``: the highest any process saw)."""
        last = self.ticks_at(max(self.by_second)) if self.by_second else []
        return {
            "count": _counter(last, "count"),
            "errors": _counter(last, "errors"),
            "buys": _counter(last, "buys"),
            "close_codes": _counter(last, "close_codes"),
            "batches": int(_sum(last, "batches")),
            "frames": int(_sum(last, "frames")),
            "bytes": int(_sum(last, "bytes")),
            "gaps": int(_sum(last, "gaps")),
            "repeats": int(_sum(last, "repeats")),
            "skipped": int(_sum(last, "skipped")),
            "keys": int(_sum(last, "keys")),
            "definite_keys": int(_sum(last, "definite_keys")),
            "live_viewers": int(max((t.get("live_viewers", 0) for t in last), default=0)),
            "video": {
                "frames": int(_sum(last, "video", "frames")),
                "bytes": int(_sum(last, "video", "bytes")),
                "live": int(_sum(last, "video", "live")),
                "offline": int(_sum(last, "video", "offline")),
            },
        }


def _w(tick: dict[str, Any]) -> int:
    return int(tick["w"])


def _match(before: list[dict[str, Any]], now: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_w = {t["w"]: t for t in before}
    return [by_w.get(t["w"], {}) for t in sorted(now, key=_w)]
