"""The viewers' connections in one ``livecart loadtest`` client process.

The crowd joins its viewers on their schedule (at most a share of
``CONNECTS_IN_FLIGHT`` handshakes at a time), finds the connections the server dropped
and reconnects them with the protocol's backoff (at most ``MAX_RECONNECTS`` a viewer,
resuming where a sample viewer left off), runs the join storm, and opens a video socket
per viewer in the video scenario. It counts connects, drops and join times in
``WorkerCounts``: ``viewers_joined`` once per viewer, at its first snapshot; a refused
handshake by its HTTP status (``connect:http_429`` is the server's per-address socket
cap, ``loadtest.server_caps``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlencode

from livecart.loadtest.client_context import ClientContext
from livecart.loadtest.scenarios import SAMPLE, ViewerSpec
from livecart.loadtest.wsclient import HandshakeRefused, VideoViewer, Viewer, open_viewer

# Handshakes in flight, across all client processes. Kept under a listen backlog of 128
# (aiohttp's default): past it the kernel drops SYNs and a joiner waits 1-7 s for the
# retransmission, which measures the backlog rather than the server. The join storm
# deliberately goes past it.
CONNECTS_IN_FLIGHT = 96
STORM_CONNECTS_IN_FLIGHT = 2000
MAX_RECONNECTS = 5


def _why(exc: BaseException) -> str:
    """A failed connect's error counter: ``http_<status>`` for a refused handshake."""
    if isinstance(exc, HandshakeRefused):
        return f"http_{exc.status}"
    return type(exc).__name__


class Crowd:
    """The viewers' connections of one client process: joins on schedule through a gate on
    handshakes in flight, reconnects of dropped ones, the join storm, and video sockets.
    ``conns`` holds each viewer's current connection, ``everyone`` every connection ever
    opened."""

    def __init__(self, ctx: ClientContext, on_joined: Callable[[int], None]) -> None:
        self.ctx = ctx
        self.plan = ctx.plan
        self.schedule = ctx.schedule
        self.counts = ctx.counts
        self.conns = ctx.conns  # this class keeps it: the current connection of each viewer
        self.on_joined = on_joined  # called with the viewer's index on each (re)join
        self.specs = {s.index: s for s in ctx.viewers}
        self.everyone: list[Viewer] = []  # every connection ever opened
        self.videos: list[VideoViewer] = []
        self._reconnects: Counter[int] = Counter()
        self._reconnecting: set[int] = set()
        total = STORM_CONNECTS_IN_FLIGHT if ctx.plan.behaviour.storm else CONNECTS_IN_FLIGHT
        self._gate = asyncio.Semaphore(max(8, round(total * ctx.plan.share)))

    def open(self) -> list[Viewer]:
        """The current connections that are open now."""
        return [v for v in self.conns.values() if v.open]

    async def join_all(self) -> None:
        """Join every viewer at its ``join_at``, in that order, without waiting for the
        handshakes; returns when the last one is started or the run stops."""
        for spec in sorted(self.ctx.viewers, key=lambda s: s.join_at):
            if self.schedule.stopping:
                return
            await self.schedule.until(spec.join_at)
            self.schedule.spawn(self._connect(spec))

    async def watch(self) -> None:
        """Find connections the server dropped and reconnect them (backoff 0.5 s doubling
        to 10 s, with jitter; at most MAX_RECONNECTS per viewer)."""
        while not self.schedule.stopping:
            await asyncio.sleep(0.5)
            for i, v in list(self.conns.items()):
                if v.lost and not v.leaving and i not in self._reconnecting:
                    self.counts.count["drops"] += 1
                    if self._reconnects[i] < MAX_RECONNECTS:
                        self._reconnecting.add(i)
                        self.schedule.spawn(self._reconnect(i))
                    else:
                        del self.conns[i]

    async def storm(self, at: float) -> None:
        """Half the room leaves at once and comes straight back (fresh snapshots for the
        light viewers, resume for the samples)."""
        await self.schedule.until(at)
        wave = [i for i, v in sorted(self.conns.items()) if v.open][::2]
        for i in wave:
            self.ctx.commands.abandon(i)
            self.conns[i].close()
        self.counts.count["storm_wave"] += len(wave)
        for i in wave:
            self.schedule.spawn(self._connect(self.specs[i], rejoin=True))

    def close(self) -> None:
        """Close every connection ever opened here and every video socket."""
        for v in self.everyone:
            v.close()
        for video in self.videos:
            video.close()

    def _path(self, spec: ViewerSpec, old: Viewer | None) -> str:
        query = {"name": f"viewer{spec.index}"}
        if old is not None and old.token:
            query["vid"] = old.token
            if spec.flags & SAMPLE and old.epoch and old.seq >= 0:
                query.update(since=str(old.seq), epoch=old.epoch)
        return f"/ws/{self.plan.room}?{urlencode(query)}"

    async def _open(self, spec: ViewerSpec, old: Viewer | None) -> Viewer | None:
        """One handshake through the gate; None if it failed (counted)."""
        sample = bool(spec.flags & SAMPLE)
        counts = self.counts
        async with self._gate:
            if self.schedule.stopping:
                return None
            try:
                return await open_viewer(
                    self.plan.host,
                    self.plan.port,
                    self._path(spec, old),
                    sample=sample,
                    fmt=self.plan.fmt,
                    stats=counts.sampled if sample else counts.light,
                    timeout=15.0,
                    on_reply=self.ctx.commands.on_reply,
                    measure_all=True,
                )
            except (OSError, TimeoutError) as exc:
                counts.count["connect_failed"] += 1
                counts.errors["connect:" + _why(exc)] += 1
                return None

    async def _connect(self, spec: ViewerSpec, rejoin: bool = False) -> None:
        old = self.conns.get(spec.index)
        self.counts.count["connect_attempts"] += 1
        v = await self._open(spec, old)
        if v is None:
            return
        sample = bool(spec.flags & SAMPLE)
        v.ident = spec.index
        v.measuring = sample
        if spec.index not in self.conns:
            self.counts.count["viewers_joined"] += 1
        self.conns[spec.index] = v
        self.everyone.append(v)
        join_ms = ((v.first_at or v.started) - v.started) * 1000
        (self.counts.rejoin if rejoin or old is not None else self.counts.join).add(join_ms)
        if old is not None and v.first is not None:
            resumed = v.first.get("t") == "resume"
            self.counts.count["resumed" if resumed else "fresh_snapshots"] += 1
        self.on_joined(spec.index)
        if self.plan.behaviour.video and not rejoin and old is None:
            await self._open_video(sample)

    async def _open_video(self, sample: bool) -> None:
        loop = asyncio.get_running_loop()
        video: VideoViewer | None = None
        try:
            async with asyncio.timeout(15):
                _, video = await loop.create_connection(
                    lambda: VideoViewer(
                        f"/ws/video/{self.plan.room}", sample, self.counts.video_delays
                    ),
                    self.plan.host,
                    self.plan.port,
                )
                self.videos.append(video)
                await video.ready
        except (OSError, TimeoutError) as exc:
            self.counts.errors["video:" + _why(exc)] += 1

    async def _reconnect(self, i: int) -> None:
        try:
            k = self._reconnects[i]
            self._reconnects[i] += 1
            await asyncio.sleep(min(10.0, 0.5 * 2**k) * self.ctx.rng.uniform(0.8, 1.2))
            if not self.schedule.stopping:
                self.counts.count["reconnects"] += 1
                await self._connect(self.specs[i], rejoin=True)
        finally:
            self._reconnecting.discard(i)
