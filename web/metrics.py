"""``GET /metrics``: the node's counters in the Prometheus text exposition format.

Nothing on the hot path calls ``prometheus_client``: the hub, checkout and the streamer
keep plain integers and ``livecart.histogram.Buckets``, and ``NodeCollector`` turns them
into metric families when ``/metrics`` is scraped. Every series carries a ``worker``
label (``0`` for a single process), the index of the process among ``--workers``.

With ``--workers N`` a scrape reaches one worker, picked by the kernel. So that it
shows every worker, each worker writes its own families to ``<dir>/worker-<n>.prom``
once a second (``WorkerSnapshots``; ``dir`` is a fresh directory ``livecart serve``
makes for the run and removes at exit), and the worker that answers adds its siblings'
latest files to its own live figures. A sibling's series are thus at most about a
second old; a file not rewritten for ``STALE_AFTER`` seconds (its worker died) is left
out, and a worker that stops removes its file. Aggregate across workers in PromQL,
e.g. ``sum without (worker) (rate(livecart_deliveries_total[1m]))``.

Why not ``prometheus_client``'s multiprocess mode: it needs every update to go
through its own (locked, mmap-backed) metric objects, it cannot drop the label set of
a room that was unloaded, and it cannot take the histograms the hub already keeps;
here the hot path stays as it was and per-room gauges disappear with their room.

Only the operator reads it: a client on this machine (or in ``--metrics-allow``) or a
request with the admin token; anyone else gets 403 ``forbidden``
(``web.metrics_access``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from livecart.chat.figures import HubFigures
from livecart.chat.hub import Hub
from livecart.chat.store_redis import RedisRoomStore
from livecart.checkout.counters import CheckoutCounters
from livecart.checkout.service import CheckoutService
from livecart.connections import client_address
from livecart.delivery_stages import METRIC as STAGE_METRIC
from livecart.histogram import Buckets
from livecart.streamer.fanout import FanoutStats
from livecart.streamer.service import StreamerService
from livecart.web.auth import bearer
from livecart.web.config import METRICS_ALLOW
from livecart.web.keys import ADMIN_TOKEN
from livecart.web.metrics_access import MetricsAccess

if TYPE_CHECKING:
    from livecart.streamer.cluster import MediaCluster

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus reads (the names need no escaping)."""
SNAPSHOT_INTERVAL = 1.0
STALE_AFTER = 5.0


@dataclass
class Sources:
    """The objects whose counters one worker exports."""

    worker: int
    hub: Hub
    store: RedisRoomStore
    checkout: CheckoutService
    streamer: StreamerService | None


Sample = tuple[tuple[str, ...], float | Buckets]
"""One series of a family: its label values after ``worker``, and its value (a number,
or the buckets of a histogram)."""


class Reading:
    """What one ``collect()`` reads, taken once: the sources and the hub's figures."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.hub: HubFigures = sources.hub.figures()
        self.checkout: CheckoutCounters = sources.checkout.counters

    @property
    def streamer(self) -> StreamerService:
        """The streamer (the :data:`STREAMER_FAMILIES` are read only when there is one)."""
        assert self.sources.streamer is not None
        return self.sources.streamer

    @cached_property
    def video(self) -> FanoutStats:
        """The streamer's fan-out counters, summed once per scrape."""
        return self.streamer.video_stats()

    @property
    def cluster(self) -> MediaCluster | None:
        """The streamer's relay between processes, when there is one."""
        return self.sources.streamer.cluster if self.sources.streamer is not None else None


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family of ``/metrics``: its name, type, help, the labels after
    ``worker``, and how a :class:`Reading` gives its series."""

    name: str
    kind: type[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]
    help: str
    read: Callable[[Reading], Iterable[Sample]]
    labels: tuple[str, ...] = ()

    def render(self, worker: str, reading: Reading) -> Metric:
        """The family with its series, read now."""
        family = self.kind(self.name, self.help, labels=["worker", *self.labels])
        for labels, value in self.read(reading):
            if isinstance(value, Buckets):
                assert isinstance(family, HistogramMetricFamily)
                family.add_metric([worker, *labels], value.cumulative(), value.sum)
            else:
                assert not isinstance(family, HistogramMetricFamily)
                family.add_metric([worker, *labels], value)
        return family


COUNTER, GAUGE, HISTOGRAM = CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily


def _one(get: Callable[[Reading], float | Buckets]) -> Callable[[Reading], Iterable[Sample]]:
    """A family of one series, labelled by ``worker`` alone."""
    return lambda r: [((), get(r))]


def _by_key(get: Callable[[Reading], Mapping[Any, float]]) -> Callable[[Reading], Iterable[Sample]]:
    """One series per key of a mapping (a key or a tuple of keys), sorted by key."""
    return lambda r: [
        ((*k,) if isinstance(k, tuple) else (k,), n) for k, n in sorted(get(r).items())
    ]


def _redis_errors(r: Reading) -> Iterator[Sample]:
    yield ("room_store",), r.sources.store.unavailable
    yield ("checkout",), r.checkout.unavailable
    yield ("pubsub",), r.hub.feed_losses
    if r.cluster is not None:
        yield ("media_pubsub",), r.cluster.subscriber.losses


def _redis_reconnects(r: Reading) -> Iterator[Sample]:
    yield ("pubsub",), r.hub.feed_reconnects
    if r.cluster is not None:
        yield ("media_pubsub",), r.cluster.subscriber.reconnects


def _relayed(r: Reading) -> Iterator[Sample]:
    yield ("out",), r.cluster.relayed_out if r.cluster else 0
    yield ("in",), r.cluster.relayed_in if r.cluster else 0


HUB_FAMILIES = (
    Family(
        "livecart_connections",
        GAUGE,
        "WebSocket sessions joined to the room on this worker (hosts included).",
        _by_key(lambda r: {k: room.connections for k, room in r.hub.rooms.items()}),
        ("room",),
    ),
    Family(
        "livecart_viewers",
        GAUGE,
        "Viewer sessions (not the host's) of the room on this worker.",
        _by_key(lambda r: {k: room.viewers for k, room in r.hub.rooms.items()}),
        ("room",),
    ),
    Family("livecart_rooms_loaded", GAUGE, "Rooms loaded.", _one(lambda r: len(r.hub.rooms))),
    Family(
        "livecart_frames_written_total",
        COUNTER,
        "Batch frames written to sockets.",
        _one(lambda r: r.hub.frames),
    ),
    Family(
        "livecart_written_bytes_total",
        COUNTER,
        "Bytes of the batch frames written.",
        _one(lambda r: r.hub.bytes),
    ),
    Family(
        "livecart_deliveries_total",
        COUNTER,
        "Batch frames delivered by the room ticks (what the load tester receives).",
        _one(lambda r: r.hub.deliveries),
    ),
    Family(
        "livecart_delivery_latency_seconds",
        HISTOGRAM,
        "From an event's creation to the write of its batch to this worker's sockets "
        "(one sample per event per room tick).",
        _one(lambda r: r.hub.delivery_seconds),
    ),
    Family(
        STAGE_METRIC,
        HISTOGRAM,
        "Where an event's time goes on this worker, by stage: read_to_stamp, "
        "emit_round_trip, stamp_to_applied, applied_to_flush, flush, tick_late "
        "(README, Metrics).",
        lambda r: [((stage,), b) for stage, b in r.hub.stages.by_name().items()],
        ("stage",),
    ),
    Family("livecart_ticks_total", COUNTER, "Hub ticks run.", _one(lambda r: r.hub.ticks)),
    Family(
        "livecart_tick_duration_seconds",
        HISTOGRAM,
        "Work of one hub tick (all rooms' flushes).",
        _one(lambda r: r.hub.tick_seconds),
    ),
    Family(
        "livecart_chat_skipped_total",
        COUNTER,
        "Chat events left out of the frames of lagging (slow) sessions.",
        _one(lambda r: r.hub.chat_skipped),
    ),
    Family(
        "livecart_slow_consumer_closes_total",
        COUNTER,
        "Sessions closed with 4008 (slow consumer).",
        _one(lambda r: r.hub.slow_closed),
    ),
    Family(
        "livecart_commands_total",
        COUNTER,
        "Commands (WebSocket and HTTP) by name and outcome (ok or the error code).",
        _by_key(lambda r: r.hub.commands),
        ("command", "outcome"),
    ),
    Family(
        "livecart_pubsub_messages_total",
        COUNTER,
        "Room messages received on the pub/sub feed.",
        _one(lambda r: r.hub.feed_received),
    ),
    Family(
        "livecart_pubsub_gaps_total",
        COUNTER,
        "Sequence gaps seen on the feed (each one resyncs the room).",
        _one(lambda r: r.hub.gaps),
    ),
    Family(
        "livecart_pubsub_resyncs_total",
        COUNTER,
        "Room resyncs started (after a gap, a feed reconnect or a stale head).",
        _one(lambda r: r.hub.resyncs),
    ),
    Family(
        "livecart_room_reloads_total",
        COUNTER,
        "Resyncs that had to reload the room and send fresh snapshots.",
        _one(lambda r: r.hub.reloads),
    ),
    Family(
        "livecart_redis_errors_total",
        COUNTER,
        "Redis failures: store calls that found it unreachable (room_store, checkout), "
        "pub/sub connections lost (pubsub, media_pubsub).",
        _redis_errors,
        ("source",),
    ),
    Family(
        "livecart_redis_reconnects_total",
        COUNTER,
        "Pub/sub connections made again after a loss.",
        _redis_reconnects,
        ("source",),
    ),
)
"""The hub's families (and the Redis connections of the node), in exposition order."""

CHECKOUT_FAMILIES = (
    Family(
        "livecart_buys_total",
        COUNTER,
        "Buys (reservations) by outcome: ok or the error code.",
        _by_key(lambda r: r.checkout.buys),
        ("outcome",),
    ),
    Family(
        "livecart_buy_duration_seconds",
        HISTOGRAM,
        "Time to answer a buy.",
        _one(lambda r: r.checkout.buy_seconds),
    ),
    Family(
        "livecart_payments_total",
        COUNTER,
        "Payments by outcome: ok or the error code.",
        _by_key(lambda r: r.checkout.payments),
        ("outcome",),
    ),
    Family(
        "livecart_payment_duration_seconds",
        HISTOGRAM,
        "Time to answer a payment (the charge included).",
        _one(lambda r: r.checkout.pay_seconds),
    ),
    Family(
        "livecart_holds_expired_total",
        COUNTER,
        "Reservations released by the sweeper when their hold ended.",
        _one(lambda r: r.checkout.holds_expired),
    ),
)
"""Checkout's families, in exposition order."""

STREAMER_FAMILIES = (
    Family(
        "livecart_video_viewers",
        GAUGE,
        "Video (fMP4 over WebSocket) viewers of the room on this worker.",
        _by_key(lambda r: {k: len(ch.fanout.viewers) for k, ch in r.streamer.channels.items()}),
        ("room",),
    ),
    Family(
        "livecart_video_fragments_total",
        COUNTER,
        "Video fragments fanned out to this worker's viewers.",
        _one(lambda r: r.video.fragments),
    ),
    Family(
        "livecart_video_written_bytes_total",
        COUNTER,
        "Bytes of video written to viewers.",
        _one(lambda r: r.video.bytes_written),
    ),
    Family(
        "livecart_video_viewers_dropped_total",
        COUNTER,
        "Video viewers disconnected for falling too far behind.",
        _one(lambda r: r.video.dropped),
    ),
    Family(
        "livecart_relay_messages_total",
        COUNTER,
        "Media relay messages (fragments, init, end) through Redis: sent by this "
        "worker's shows (out) and received for its viewers (in).",
        _relayed,
        ("direction",),
    ),
    Family(
        "livecart_whip_sessions",
        GAUGE,
        "WHIP publishers whose media this worker receives.",
        _one(lambda r: len(r.streamer.sessions)),
    ),
    Family(
        "livecart_whip_sessions_started_total",
        COUNTER,
        "WHIP sessions started on this worker.",
        _one(lambda r: r.streamer.publishes),
    ),
)
"""The streamer's families (a node without a streamer has none), in exposition order."""


class NodeCollector(Collector):
    """One worker's metric families, read from its sources at each ``collect()``.

    The families and their meaning are listed in the README ("Operating" / "Metrics");
    ``tests/node/test_metrics.py`` checks the names against Prometheus conventions.
    """

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        """Every metric family of the hub, checkout and the streamer, read now."""
        families: tuple[Family, ...] = HUB_FAMILIES + CHECKOUT_FAMILIES
        if self.sources.streamer is not None:
            families += STREAMER_FAMILIES
        reading = Reading(self.sources)
        worker = str(self.sources.worker)
        for family in families:
            yield family.render(worker, reading)


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def exposition(families: Iterable[Metric]) -> bytes:
    """``families`` in the Prometheus text format."""
    text: bytes = generate_latest(_Families(families))
    return text


def merge(own: Iterable[Metric], others: Iterable[str]) -> list[Metric]:
    """``own`` families with the samples of the same families from other workers' texts
    (a family absent here is taken as it is; one of another type is left out)."""
    families = {family.name: family for family in own}
    for text in others:
        for family in text_string_to_metric_families(text):
            have = families.get(family.name)
            if have is None:
                families[family.name] = family
            elif have.type == family.type:
                have.samples.extend(family.samples)
    return list(families.values())


class WorkerSnapshots:
    """The workers' latest expositions, one file each in a directory they share."""

    def __init__(self, directory: Path, worker: int) -> None:
        self.directory = directory
        self.path = directory / f"worker-{worker}.prom"

    def write(self, text: bytes) -> None:
        """Replace this worker's file atomically (readers never see half a file)."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(text)
        os.replace(tmp, self.path)

    def others(self, now: float | None = None) -> list[str]:
        """The other workers' texts, leaving out files older than ``STALE_AFTER``."""
        now = time.time() if now is None else now
        texts = []
        for path in sorted(self.directory.glob("worker-*.prom")):
            if path == self.path:
                continue
            with contextlib.suppress(FileNotFoundError):
                if now - path.stat().st_mtime <= STALE_AFTER:
                    texts.append(path.read_text(encoding="utf-8"))
        return texts

    def remove(self) -> None:
        """Delete this worker's snapshot file (at shutdown)."""
        self.path.unlink(missing_ok=True)


@dataclass
class NodeMetrics:
    """What ``/metrics`` serves: this worker's collector and, with several workers,
    the snapshots of the others."""

    collector: NodeCollector
    snapshots: WorkerSnapshots | None = None

    def render(self) -> bytes:
        """The exposition text ``/metrics`` serves: this worker's families merged with the
        others'."""
        own = self.collector.collect()
        if self.snapshots is None:
            return exposition(own)
        return exposition(merge(own, self.snapshots.others()))

    async def write_snapshots(self) -> None:
        """Write this worker's file every ``SNAPSHOT_INTERVAL`` until cancelled."""
        assert self.snapshots is not None
        while True:
            try:
                self.snapshots.write(exposition(self.collector.collect()))
            except OSError:
                log.exception("cannot write the metrics snapshot %s", self.snapshots.path)
            await asyncio.sleep(SNAPSHOT_INTERVAL)


METRICS = web.AppKey("metrics", NodeMetrics)


METRICS_ACCESS = web.AppKey("metrics_access", MetricsAccess)
"""Who may read ``/metrics`` (``web.metrics_access``); an app without it: loopback."""


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: every worker's series, Prometheus text format 0.0.4; 403
    ``forbidden`` to a client ``MetricsAccess`` does not let through."""
    access = request.app.get(METRICS_ACCESS) or MetricsAccess.parse(METRICS_ALLOW)
    address = client_address(request)
    token = bearer(request.headers.get("Authorization"))
    if not access.allows(address, token, request.app[ADMIN_TOKEN]):
        message = "/metrics is for the operator: send the admin token, or see --metrics-allow"
        return web.json_response({"error": {"code": "forbidden", "message": message}}, status=403)
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


@contextlib.asynccontextmanager
async def exporting(
    app: web.Application, sources: Sources, directory: Path | None
) -> AsyncIterator[None]:
    """Serve ``sources`` on ``/metrics`` while the block runs; with ``directory`` (set
    by ``serve --workers``), share them with the sibling workers through it."""
    snapshots = WorkerSnapshots(directory, sources.worker) if directory else None
    node = app[METRICS] = NodeMetrics(NodeCollector(sources), snapshots)
    if snapshots is None:
        yield
        return
    task = asyncio.create_task(node.write_snapshots(), name="metrics-snapshots")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        snapshots.remove()
