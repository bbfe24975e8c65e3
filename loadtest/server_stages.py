"""The server's delivery stages over a benchmark's window, read from ``/metrics``.

``/metrics`` shows every worker of a ``livecart serve --workers N`` node (a sibling's
series at most about a second old; ``livecart.web.metrics``), so one scrape before and
one after the window, summed over the ``worker`` label and subtracted, give the stages
of the whole node. :func:`diff` does the subtraction and :func:`figures` the p50/p99
(interpolated in the buckets, as Prometheus' ``histogram_quantile``) of each histogram:
the stages of ``livecart.delivery_stages``, the tick's work and the server-stamped
delivery latency.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from livecart.delivery_stages import METRIC as STAGE_METRIC
from livecart.delivery_stages import STAGES
from livecart.histogram import quantile

TICK = "tick"
DELIVERY = "stamp_to_written"
FAMILIES = {
    "livecart_tick_duration_seconds": TICK,
    "livecart_delivery_latency_seconds": DELIVERY,
}
ORDER = (*(name for name, _ in STAGES), TICK, DELIVERY)
"""The histograms as the report lists them."""


@dataclass
class Histogram:
    """Cumulative counts per upper bound (``le``), summed over workers."""

    cumulative: dict[float, float] = field(default_factory=dict)
    sum: float = 0.0

    @property
    def count(self) -> float:
        """Observations in all (the ``+Inf`` bucket's cumulative count)."""
        return self.cumulative.get(float("inf"), 0.0)


Snapshot = dict[str, Histogram]


def parse(text: str) -> Snapshot:
    """The stage, tick and delivery histograms of one ``/metrics`` text, every worker's
    samples added up."""
    out: Snapshot = {}
    for family in text_string_to_metric_families(text):
        if family.name != STAGE_METRIC and family.name not in FAMILIES:
            continue
        for sample in family.samples:
            name = sample.labels.get("stage") if family.name == STAGE_METRIC else None
            name = name or FAMILIES.get(family.name)
            if name is None:
                continue
            h = out.setdefault(name, Histogram())
            if sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                h.cumulative[le] = h.cumulative.get(le, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                h.sum += sample.value
    return out


def diff(before: Snapshot, after: Snapshot) -> Snapshot:
    """What was observed between the two snapshots."""
    out: Snapshot = {}
    for name, h in after.items():
        b = before.get(name, Histogram())
        out[name] = Histogram(
            {le: n - b.cumulative.get(le, 0.0) for le, n in h.cumulative.items()},
            h.sum - b.sum,
        )
    return out


@dataclass(frozen=True)
class StageFigure:
    """One histogram over a run, as the report shows it: how many observations, and the
    median, 99th percentile and mean in ms (None without observations)."""

    count: int
    p50_ms: float | None
    p99_ms: float | None
    mean_ms: float | None


def figure(h: Histogram) -> StageFigure:
    bounds = sorted(le for le in h.cumulative if le != float("inf"))
    counts: list[int] = []
    running = 0.0
    for le in [*bounds, float("inf")]:
        c = h.cumulative.get(le, 0.0)
        counts.append(max(0, round(c - running)))
        running = c
    count = round(h.count)

    def ms(q: float) -> float | None:
        v = quantile(bounds, counts, q) if bounds else None
        return None if v is None else v * 1000

    return StageFigure(count, ms(0.5), ms(0.99), h.sum / count * 1000 if count else None)


def figures(window: Snapshot) -> dict[str, StageFigure]:
    """p50/p99/mean (ms) and count of each histogram, in :data:`ORDER`."""
    return {name: figure(window[name]) for name in ORDER if name in window}


def scrape(base: str, timeout: float = 20.0, attempts: int = 3) -> Snapshot | None:
    """One ``/metrics`` scrape of the node at ``base`` (127.0.0.1 only), parsed; None if
    an overloaded server did not answer ``attempts`` times within ``timeout`` seconds."""
    assert base.startswith("http://127.0.0.1:"), base
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(f"{base}/metrics", timeout=timeout) as resp:
                return parse(resp.read().decode("utf-8"))
        except OSError:
            continue
    return None


def window(before: Snapshot | None, after: Snapshot | None) -> dict[str, StageFigure]:
    """The figures of what was observed between two scrapes ({} if either failed)."""
    if before is None or after is None:
        return {}
    return figures(diff(before, after))
