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
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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

from livecart.chat.hub import Hub
from livecart.chat.store_redis import RedisRoomStore
from livecart.checkout.service import CheckoutService
from livecart.connections import client_address
from livecart.delivery_stages import METRIC as STAGE_METRIC
from livecart.histogram import Buckets
from livecart.streamer.service import StreamerService
from livecart.web.auth import bearer
from livecart.web.config import METRICS_ALLOW
from livecart.web.keys import ADMIN_TOKEN
from livecart.web.metrics_access import MetricsAccess

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


def _histogram(name: str, doc: str, worker: str, buckets: Buckets) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=["worker"])
    family.add_metric([worker], buckets.cumulative(), buckets.sum)
    return family


def _counter(name: str, doc: str, worker: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["worker"])
    family.add_metric([worker], value)
    return family


class NodeCollector(Collector):
    """One worker's metric families, read from its sources at each ``collect()``.

    The families and their meaning are listed in the README ("Operating" / "Metrics");
    ``tests/node/test_metrics.py`` checks the names against Prometheus conventions.
    """

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        """Every metric family of the hub, checkout and the streamer, read now."""
        yield from self._hub()
        yield from self._checkout()
        yield from self._streamer()

    def _hub(self) -> Iterator[Metric]:
        src = self.sources
        w = str(src.worker)
        f = src.hub.figures()
        connections = GaugeMetricFamily(
            "livecart_connections",
            "WebSocket sessions joined to the room on this worker (hosts included).",
            labels=["worker", "room"],
        )
        viewers = GaugeMetricFamily(
            "livecart_viewers",
            "Viewer sessions (not the host's) of the room on this worker.",
            labels=["worker", "room"],
        )
        for room_id, room in sorted(f.rooms.items()):
            connections.add_metric([w, room_id], room.connections)
            viewers.add_metric([w, room_id], room.viewers)
        yield connections
        yield viewers
        rooms = GaugeMetricFamily("livecart_rooms_loaded", "Rooms loaded.", labels=["worker"])
        rooms.add_metric([w], len(f.rooms))
        yield rooms
        yield _counter(
            "livecart_frames_written_total", "Batch frames written to sockets.", w, f.frames
        )
        yield _counter(
            "livecart_written_bytes_total", "Bytes of the batch frames written.", w, f.bytes
        )
        yield _counter(
            "livecart_deliveries_total",
            "Batch frames delivered by the room ticks (what the load tester receives).",
            w,
            f.deliveries,
        )
        yield _histogram(
            "livecart_delivery_latency_seconds",
            "From an event's creation to the write of its batch to this worker's sockets "
            "(one sample per event per room tick).",
            w,
            f.delivery_seconds,
        )
        stages = HistogramMetricFamily(
            STAGE_METRIC,
            "Where an event's time goes on this worker, by stage: read_to_stamp, "
            "emit_round_trip, stamp_to_applied, applied_to_flush, flush, tick_late "
            "(README, Metrics).",
            labels=["worker", "stage"],
        )
        for stage, buckets in f.stages.by_name().items():
            stages.add_metric([w, stage], buckets.cumulative(), buckets.sum)
        yield stages
        yield _counter("livecart_ticks_total", "Hub ticks run.", w, f.ticks)
        yield _histogram(
            "livecart_tick_duration_seconds",
            "Work of one hub tick (all rooms' flushes).",
            w,
            f.tick_seconds,
        )
        yield _counter(
            "livecart_chat_skipped_total",
            "Chat events left out of the frames of lagging (slow) sessions.",
            w,
            f.chat_skipped,
        )
        yield _counter(
            "livecart_slow_consumer_closes_total",
            "Sessions closed with 4008 (slow consumer).",
            w,
            f.slow_closed,
        )
        commands = CounterMetricFamily(
            "livecart_commands_total",
            "Commands (WebSocket and HTTP) by name and outcome (ok or the error code).",
            labels=["worker", "command", "outcome"],
        )
        for (name, outcome), n in sorted(f.commands.items()):
            commands.add_metric([w, name, outcome], n)
        yield commands
        yield _counter(
            "livecart_pubsub_messages_total",
            "Room messages received on the pub/sub feed.",
            w,
            f.feed_received,
        )
        yield _counter(
            "livecart_pubsub_gaps_total",
            "Sequence gaps seen on the feed (each one resyncs the room).",
            w,
            f.gaps,
        )
        yield _counter(
            "livecart_pubsub_resyncs_total",
            "Room resyncs started (after a gap, a feed reconnect or a stale head).",
            w,
            f.resyncs,
        )
        yield _counter(
            "livecart_room_reloads_total",
            "Resyncs that had to reload the room and send fresh snapshots.",
            w,
            f.reloads,
        )
        errors = CounterMetricFamily(
            "livecart_redis_errors_total",
            "Redis failures: store calls that found it unreachable (room_store, checkout), "
            "pub/sub connections lost (pubsub, media_pubsub).",
            labels=["worker", "source"],
        )
        errors.add_metric([w, "room_store"], src.store.unavailable)
        errors.add_metric([w, "checkout"], src.checkout.counters.unavailable)
        errors.add_metric([w, "pubsub"], f.feed_losses)
        reconnects = CounterMetricFamily(
            "livecart_redis_reconnects_total",
            "Pub/sub connections made again after a loss.",
            labels=["worker", "source"],
        )
        reconnects.add_metric([w, "pubsub"], f.feed_reconnects)
        cluster = src.streamer.cluster if src.streamer is not None else None
        if cluster is not None:
            errors.add_metric([w, "media_pubsub"], cluster.subscriber.losses)
            reconnects.add_metric([w, "media_pubsub"], cluster.subscriber.reconnects)
        yield errors
        yield reconnects

    def _checkout(self) -> Iterator[Metric]:
        w = str(self.sources.worker)
        counts = self.sources.checkout.counters
        buys = CounterMetricFamily(
            "livecart_buys_total",
            "Buys (reservations) by outcome: ok or the error code.",
            labels=["worker", "outcome"],
        )
        for outcome, n in sorted(counts.buys.items()):
            buys.add_metric([w, outcome], n)
        yield buys
        yield _histogram(
            "livecart_buy_duration_seconds", "Time to answer a buy.", w, counts.buy_seconds
        )
        payments = CounterMetricFamily(
            "livecart_payments_total",
            "Payments by outcome: ok or the error code.",
            labels=["worker", "outcome"],
        )
        for outcome, n in sorted(counts.payments.items()):
            payments.add_metric([w, outcome], n)
        yield payments
        yield _histogram(
            "livecart_payment_duration_seconds",
            "Time to answer a payment (the charge included).",
            w,
            counts.pay_seconds,
        )
        yield _counter(
            "livecart_holds_expired_total",
            "Reservations released by the sweeper when their hold ended.",
            w,
            counts.holds_expired,
        )

    def _streamer(self) -> Iterator[Metric]:
        streamer = self.sources.streamer
        if streamer is None:
            return
        w = str(self.sources.worker)
        viewers = GaugeMetricFamily(
            "livecart_video_viewers",
            "Video (fMP4 over WebSocket) viewers of the room on this worker.",
            labels=["worker", "room"],
        )
        for room_id, channel in sorted(streamer.channels.items()):
            viewers.add_metric([w, room_id], len(channel.fanout.viewers))
        yield viewers
        stats = streamer.video_stats()
        yield _counter(
            "livecart_video_fragments_total",
            "Video fragments fanned out to this worker's viewers.",
            w,
            stats.fragments,
        )
        yield _counter(
            "livecart_video_written_bytes_total",
            "Bytes of video written to viewers.",
            w,
            stats.bytes_written,
        )
        yield _counter(
            "livecart_video_viewers_dropped_total",
            "Video viewers disconnected for falling too far behind.",
            w,
            stats.dropped,
        )
        cluster = streamer.cluster
        relayed = CounterMetricFamily(
            "livecart_relay_messages_total",
            "Media relay messages (fragments, init, end) through Redis: sent by this "
            "worker's shows (out) and received for its viewers (in).",
            labels=["worker", "direction"],
        )
        relayed.add_metric([w, "out"], cluster.relayed_out if cluster else 0)
        relayed.add_metric([w, "in"], cluster.relayed_in if cluster else 0)
        yield relayed
        sessions = GaugeMetricFamily(
            "livecart_whip_sessions",
            "WHIP publishers whose media this worker receives.",
            labels=["worker"],
        )
        sessions.add_metric([w], len(streamer.sessions))
        yield sessions
        yield _counter(
            "livecart_whip_sessions_started_total",
            "WHIP sessions started on this worker.",
            w,
            streamer.publishes,
        )


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
