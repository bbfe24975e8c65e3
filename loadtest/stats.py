"""Latency histograms that merge by addition, so that client processes can ship a
second's worth of measurements to the parent as a few dozen numbers.

Buckets are 2 % wide on a log scale (bucket ``k`` holds values in
``[1.02**k, 1.02**(k+1))`` milliseconds), so a percentile read from the histogram is
within 2 % of the exact one whatever the range (0.1 ms to hours).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_BASE = 1.02
_SCALE = 1 / math.log(_BASE)
_FLOOR = 0.1  # ms; anything below (or a negative clock difference) counts as 0.1 ms


def bucket(ms: float) -> int:
    return math.floor(math.log(max(ms, _FLOOR)) * _SCALE)


def bucket_value(index: int) -> float:
    """The middle of bucket ``index`` (geometric), in ms."""
    return float(_BASE ** (index + 0.5))


@dataclass
class Histogram:
    """Counts per bucket, plus the exact count and maximum."""

    counts: dict[int, int] = field(default_factory=dict)
    n: int = 0
    max: float = 0.0

    def add(self, ms: float) -> None:
        """Count one measurement of ``ms`` milliseconds."""
        k = bucket(ms)
        self.counts[k] = self.counts.get(k, 0) + 1
        self.n += 1
        if ms > self.max:
            self.max = ms

    def add_many(self, values: Iterable[float]) -> None:
        """Count every measurement of ``values``."""
        for ms in values:
            self.add(ms)

    def merge(self, other: Histogram | Mapping[str, object]) -> None:
        """Add another histogram's counts, either a ``Histogram`` or its ``to_dict`` form
        (from another process)."""
        if not isinstance(other, Histogram):
            other = Histogram.from_dict(other)
        for k, c in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + c
        self.n += other.n
        self.max = max(self.max, other.max)

    def percentile(self, q: float) -> float | None:
        """The value below which a share ``q`` (0..1) of the measurements lie; ``None``
        without measurements. ``q = 1`` is the exact maximum."""
        if not self.n:
            return None
        if q >= 1:
            return self.max
        rank = max(1, math.ceil(q * self.n))
        seen = 0
        for k in sorted(self.counts):
            seen += self.counts[k]
            if seen >= rank:
                return min(bucket_value(k), self.max)
        return self.max

    def to_dict(self) -> dict[str, object]:
        """The histogram as plain data to send over a pipe or write as JSON (``from_dict``
        reads it back)."""
        return {"counts": {str(k): c for k, c in self.counts.items()}, "n": self.n, "max": self.max}

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Histogram:
        """The histogram ``to_dict`` wrote. Raises ``AssertionError`` when ``raw`` is not of
        that shape."""
        counts = raw.get("counts") or {}
        assert isinstance(counts, Mapping)
        n = raw.get("n", 0)
        top = raw.get("max", 0.0)
        assert isinstance(n, int) and isinstance(top, (int, float))
        return cls({int(k): int(c) for k, c in counts.items()}, n, float(top))


def percentiles(h: Histogram) -> dict[str, float | None]:
    """p50, p90, p99 and max of ``h``, rounded to 0.1 ms."""
    out: dict[str, float | None] = {}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
        v = h.percentile(q)
        out[name] = None if v is None else round(v, 1)
    return out


def exact_percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of a small list (buy reply times: one per buyer)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
