"""Service level objectives: ``--slo "p99<250ms"`` parsed, and checked against a run.

An objective is ``<metric> <op> <number>[unit]`` with op one of ``< <= > >=``. Times
take ``ms`` (default) or ``s``; shares take ``%`` (default); counts and rates take no
unit. A metric the run has no data for (``buy_p99`` without a sale) fails: an objective
nobody measured is not met.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SPEC = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|%)?\s*$")


def _get(*path: str) -> Callable[[Mapping[str, Any]], float | None]:
    def read(summary: Mapping[str, Any]) -> float | None:
        node: Any = summary
        for part in path:
            if not isinstance(node, Mapping) or node.get(part) is None:
                return None
            node = node[part]
        value: float = float(node)
        return value

    return read


def _connected(summary: Mapping[str, Any]) -> float | None:
    if not summary.get("viewers"):
        return None
    return 100.0 * float(summary.get("connected_peak", 0)) / float(summary["viewers"])


# metric -> (kind, reader, description); kind: "time" (ms), "share" (%), "count", "rate"
METRICS: dict[str, tuple[str, Callable[[Mapping[str, Any]], float | None], str]] = {
    "p50": ("time", _get("latency", "p50"), "delivery latency p50"),
    "p90": ("time", _get("latency", "p90"), "delivery latency p90"),
    "p99": ("time", _get("latency", "p99"), "delivery latency p99"),
    "max": ("time", _get("latency", "max"), "delivery latency max"),
    "sent_p50": ("time", _get("sent_latency", "p50"), "latency from the sender's clock p50"),
    "sent_p99": ("time", _get("sent_latency", "p99"), "latency from the sender's clock p99"),
    "join_p50": ("time", _get("join", "p50"), "time to the first frame p50"),
    "join_p99": ("time", _get("join", "p99"), "time to the first frame p99"),
    "buy_p50": ("time", _get("buys", "p50_ms"), "time to a definite buy reply p50"),
    "buy_p99": ("time", _get("buys", "p99_ms"), "time to a definite buy reply p99"),
    "buy_max": ("time", _get("buys", "max_ms"), "time to a definite buy reply max"),
    "video_p99": ("time", _get("video", "behind_live", "p99"), "video behind live p99"),
    "errors": ("share", _get("errors", "rate"), "errors per connection or command"),
    "connected": ("share", _connected, "peak connected viewers of --viewers"),
    "drops": ("count", _get("drops"), "connections the server dropped"),
    "gaps": ("count", _get("gaps"), "sequence gaps the server did not report"),
    "unresolved": ("count", _get("buys", "unresolved"), "buys without a definite reply"),
    "oversold": ("count", _get("books", "oversold"), "units sold past the sale's units"),
    "msgs": ("rate", _get("msgs_per_s"), "chat messages accepted per second"),
    "deliveries": ("rate", _get("deliveries_per_s"), "events delivered per second"),
    "frames": ("rate", _get("frames_per_s"), "frames delivered per second"),
}
_UNITS = {"time": ("ms", "s"), "share": ("%",), "count": (), "rate": ()}


@dataclass(frozen=True, slots=True)
class Slo:
    """One service-level objective from ``--slo``: ``metric op limit`` as in ``p99<250ms`` or
    ``errors<1%`` (``METRICS`` names the metrics), the limit in ms for times and percent
    for shares."""

    text: str
    metric: str
    op: str
    limit: float  # in ms for times, percent for shares

    @classmethod
    def parse(cls, text: str) -> Slo:
        """The objective ``text`` states. Raises ``ValueError`` for an unknown metric or a
        unit the metric does not take."""
        m = _SPEC.match(text)
        if m is None:
            raise ValueError(f"{text!r}: expected e.g. 'p99<250ms', 'errors<1%', 'buy_p99<500ms'")
        metric, op, number, unit = m.groups()
        if metric not in METRICS:
            raise ValueError(f"{text!r}: unknown metric {metric!r} (known: {', '.join(METRICS)})")
        kind = METRICS[metric][0]
        if unit is not None and unit not in _UNITS[kind]:
            allowed = " or ".join(_UNITS[kind]) or "no unit"
            raise ValueError(f"{text!r}: {metric} takes {allowed}")
        limit = float(number) * (1000 if unit == "s" else 1)
        return cls(text.strip(), metric, op, limit)

    def check(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """The objective checked against a run's summary: the value measured, the limit and
        ``ok`` (false too when the summary has no value for it), as the report's JSON
        holds it."""
        kind, read, what = METRICS[self.metric]
        value = read(summary)
        ok = value is not None and _OPS[self.op](value, self.limit)
        unit = {"time": "ms", "share": "%"}.get(kind, "")
        return {
            "slo": self.text,
            "metric": self.metric,
            "what": what,
            "value": None if value is None else round(value, 3),
            "limit": self.limit,
            "unit": unit,
            "ok": ok,
        }


def verdicts(slos: list[Slo], summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s.check(summary) for s in slos]
