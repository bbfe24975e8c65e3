"""``/metrics``' exposition for a fixed set of inputs, byte for byte.

The collector (``web.metrics.NodeCollector``) reads plain counters from the hub,
checkout and the streamer; the figures here are made up, the text they give is kept in
``metrics_exposition.prom`` beside this file. A change to a family's name, type, help,
labels or order shows as a diff of that file: regenerate it on purpose only
(``LIVECART_REGEN_METRICS=1 pytest tests/pure/test_metrics_exposition.py``).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from livecart.chat.figures import HubFigures, RoomFigures
from livecart.checkout.counters import CheckoutCounters
from livecart.delivery_stages import DeliveryStages
from livecart.histogram import LATENCY_BUCKETS, TICK_BUCKETS, Buckets
from livecart.streamer.fanout import FanoutStats
from livecart.web.metrics import NodeCollector, Sources, exposition

GOLDEN = Path(__file__).with_name("metrics_exposition.prom")


def _buckets(bounds: tuple[float, ...], *values: float) -> Buckets:
    b = Buckets(bounds)
    for v in values:
        b.observe(v)
    return b


def _hub() -> Any:
    stages = DeliveryStages()
    stages.read_to_stamp.observe(0.0002)
    stages.flush.observe(0.003)
    stages.tick_late.observe(0.04)
    figures = HubFigures(
        rooms={"zeta": RoomFigures(3, 2), "alpha": RoomFigures(10, 9)},
        frames=120,
        bytes=45_000,
        deliveries=118,
        chat_skipped=4,
        slow_closed=1,
        ticks=77,
        tick_seconds=_buckets(TICK_BUCKETS, 0.0004, 0.002, 0.3),
        delivery_seconds=_buckets(LATENCY_BUCKETS, 0.02, 0.07, 12.0),
        stages=stages,
        commands=Counter({("chat", "ok"): 5, ("buy", "sold_out"): 2, ("chat", "rate_limited"): 1}),
        feed_received=300,
        feed_reconnects=2,
        feed_losses=3,
        gaps=6,
        resyncs=7,
        reloads=8,
    )
    return SimpleNamespace(figures=lambda: figures)


def _checkout() -> Any:
    counters = CheckoutCounters()
    counters.buys.update({"ok": 11, "sold_out": 3})
    counters.payments.update({"payment_declined": 1, "ok": 9})
    counters.buy_seconds.observe(0.004)
    counters.buy_seconds.observe(0.2)
    counters.pay_seconds.observe(1.5)
    counters.holds_expired = 5
    counters.unavailable = 2
    return SimpleNamespace(counters=counters)


def _streamer(*, cluster: bool) -> Any:
    def channel(viewers: int) -> Any:
        return SimpleNamespace(fanout=SimpleNamespace(viewers=set(range(viewers))))

    media = SimpleNamespace(
        subscriber=SimpleNamespace(losses=4, reconnects=3), relayed_out=21, relayed_in=34
    )
    stats = FanoutStats(fragments=50, writes=60, skipped=1, dropped=2, bytes_written=99_000)
    return SimpleNamespace(
        channels={"zeta": channel(1), "alpha": channel(4)},
        video_stats=lambda: stats,
        cluster=media if cluster else None,
        sessions={"s1": object()},
        publishes=6,
    )


def _render(streamer: Any) -> str:
    sources = Sources(2, _hub(), SimpleNamespace(unavailable=9), _checkout(), streamer)  # type: ignore[arg-type]
    return exposition(NodeCollector(sources).collect()).decode()


def rendered() -> str:
    """The three shapes of a node: a streamer over Redis, a lone streamer, no streamer."""
    return "".join(
        f"### {name}\n{_render(streamer)}"
        for name, streamer in (
            ("streamer with cluster", _streamer(cluster=True)),
            ("streamer alone", _streamer(cluster=False)),
            ("no streamer", None),
        )
    )


def test_the_exposition_is_byte_for_byte_the_pinned_one() -> None:
    text = rendered()
    if os.environ.get("LIVECART_REGEN_METRICS"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
