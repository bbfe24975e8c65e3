"""The plain parts behind the benchmark's stage figures: the stage histograms, quantiles
from bucket counts, the ``/metrics`` text summed over workers and subtracted, the
sender's clock in a chat text, and the kernel's listen-queue counters."""

from __future__ import annotations

import pytest

from bench import procstat
from livecart.delivery_stages import STAGE_BUCKETS, STAGES, DeliveryStages
from livecart.histogram import Buckets, quantile
from livecart.loadtest import server_stages
from livecart.loadtest.wsclient import sent_at, stamped_text


def test_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    b = Buckets((1.0, 2.0, 3.0))
    for v in (0.5, 1.5, 1.5, 2.5, 10.0):
        b.observe(v)
    assert quantile(b.bounds, b.counts, 0.5) == pytest.approx(1.75)
    assert quantile(b.bounds, b.counts, 0.0) == 0.0
    assert quantile(b.bounds, b.counts, 0.99) == 3.0  # above every bound: the top one
    assert quantile(b.bounds, [0, 0, 0, 0], 0.5) is None


def test_a_flush_observes_each_event_once_in_two_stages() -> None:
    stages = DeliveryStages()
    assert list(stages.by_name()) == [name for name, _ in STAGES]
    # two events stamped at t=10.000 s and 10.020 s, applied 5 ms later, flushed at 10.100
    stages.observe_flushed([10_000.0, 10_020.0], [10.005, 10.025], 10.100)
    assert stages.stamp_to_applied.count == 2
    assert stages.stamp_to_applied.sum == pytest.approx(0.010)
    assert stages.applied_to_flush.sum == pytest.approx(0.095 + 0.075)
    # an event without a timestamp still counts its wait for the tick
    stages.observe_flushed([0], [10.0], 10.05)
    assert stages.stamp_to_applied.count == 2 and stages.applied_to_flush.count == 3
    with pytest.raises(ValueError):
        stages.observe_flushed([1.0, 2.0], [1.0], 2.0)  # the lists must match


def _exposition(workers: dict[str, tuple[dict[float, int], float]]) -> str:
    """A ``/metrics`` text as a node of several workers serves it: the flush stage of
    each (cumulative counts per bound, sum), then a counter."""
    lines = [
        "# HELP livecart_delivery_stage_seconds x",
        "# TYPE livecart_delivery_stage_seconds histogram",
    ]
    for worker, (counts, total) in workers.items():
        labels = f'stage="flush",worker="{worker}"'
        for le, n in counts.items():
            le_text = "+Inf" if le == float("inf") else repr(le)
            lines.append(f'livecart_delivery_stage_seconds_bucket{{le="{le_text}",{labels}}} {n}')
        lines += [
            f"livecart_delivery_stage_seconds_count{{{labels}}} {counts[float('inf')]}",
            f"livecart_delivery_stage_seconds_sum{{{labels}}} {total}",
        ]
    lines += [
        "# HELP livecart_ticks_total x",
        "# TYPE livecart_ticks_total counter",
        'livecart_ticks_total{worker="0"} 5',
    ]
    return "\n".join(lines) + "\n"


def test_stage_figures_add_up_workers_and_subtract_the_window() -> None:
    inf = float("inf")
    before = server_stages.parse(_exposition({"0": ({0.01: 2, 0.1: 2, inf: 2}, 0.01)}))
    after = server_stages.parse(
        _exposition(
            {"0": ({0.01: 2, 0.1: 12, inf: 12}, 0.51), "1": ({0.01: 0, 0.1: 10, inf: 10}, 0.5)}
        )
    )
    assert after["flush"].count == 22
    window = server_stages.diff(before, after)
    fig = server_stages.figures(window)["flush"]
    assert fig.count == 20  # 10 more on worker 0, 10 on worker 1, all in (10 ms, 100 ms]
    assert fig.p50_ms == pytest.approx(55.0)
    assert fig.p99_ms is not None and 95 < fig.p99_ms <= 100
    assert fig.mean_ms == pytest.approx(50.0)
    assert "tick" not in window  # only histograms are read


def test_the_stage_buckets_are_fine_below_a_tick() -> None:
    assert sum(1 for b in STAGE_BUCKETS if b <= 0.05) >= 12


def test_the_senders_clock_rides_at_the_end_of_the_text() -> None:
    text = stamped_text("msg 17 hi!", 1764645200123.44)
    assert text == "msg 17 hi! @1764645200123.4"
    assert sent_at(text) == pytest.approx(1764645200123.4)
    assert sent_at("an @ in chat") is None
    assert sent_at("mail me @home") is None
    assert sent_at(None) is None


def test_listen_queue_counters_come_from_the_tcpext_lines() -> None:
    netstat = (
        "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n"
        "TcpExt: 3 7 9\n"
        "IpExt: InNoRoutes\n"
        "IpExt: 0\n"
    )
    assert procstat.parse_tcp_ext(netstat) == {
        "SyncookiesSent": 3,
        "ListenOverflows": 7,
        "ListenDrops": 9,
    }
    assert procstat.parse_tcp_ext("") == {}
