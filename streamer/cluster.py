"""One show across processes and nodes: the media relay and HLS over Redis.

Adapter (Redis); the message format and the edge's rules are in
:mod:`streamer.relay`. Every channel carries the room's hash tag (``lc:{room}:...``,
:mod:`livecart.keyspace`), so on a Redis Cluster each becomes sharded pub/sub on the
room's shard.

- ``lc:{room}:media`` -- the *origin* (the process holding the room's WHIP publisher)
  publishes every init, fragment and end there, encoded once, but only while some
  other process wants video (its last ``want`` is less than :data:`DEMAND_TTL` old).
  Processes with video viewers of the room (*edges*) subscribe to it.
- ``lc:{room}:media:ctl`` -- edges -> origin: ``want`` (every :data:`WANT_INTERVAL`
  while the edge has viewers, and at once on a join: it asks for a keyframe, and for
  a sync bundle when the edge is not synced); WHIP ``delete`` and ``replaced``.
- ``lc:{room}:hls`` -- the origin's HLS segments and show ends, while an edge serves
  the room's HLS.

Which process holds a room's WHIP publisher, and the DELETE routed to it, are
:mod:`streamer.whip_routing`'s; the cluster gives it its subscriber and outbox.

Publishing goes through one task that sends everything queued in one pipeline, in
order: a room's messages reach Redis in the order the packager made them. The
queue is bounded; past :data:`OUTBOX_LIMIT` the room's video is dropped until a
keyframe (the edges' viewers skip forward, like a slow viewer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from livecart.keyspace import (
    hls_channel,
    media_channel,
    media_control_channel,
    room_of_channel,
    whip_reply_channel,
)
from livecart.pubsub import Subscriber
from livecart.redis_client import REDIS_DOWN, AnyRedis, is_cluster
from livecart.streamer.channel import JOIN_KEYFRAME_GAP, Channel, KeyframeClock
from livecart.streamer.hls import LIVE_WINDOW
from livecart.streamer.opus import AudioFragment
from livecart.streamer.packager import Fragment
from livecart.streamer.recorder import ShowRecorder
from livecart.streamer.relay import (
    KEEP_SEGMENTS,
    EdgeHls,
    EdgeSync,
    RelayEnd,
    RelayInit,
    RelayItem,
    RelaySegment,
    Replayed,
    decode,
    encode_audio,
    encode_end,
    encode_fragment,
    encode_init,
    encode_segment,
)
from livecart.streamer.whip_routing import LocalPublishers, WhipRouting

log = logging.getLogger(__name__)

DEMAND_TTL = 3.0
"""Seconds the origin keeps relaying after the last ``want`` (edges send one a second)."""
WANT_INTERVAL = 1.0
"""Seconds between an edge's ``want`` messages while it has viewers."""
BUNDLE_GAP = 0.5
"""At most one sync bundle per room per this many seconds."""
OUTBOX_LIMIT = 32 * 1024 * 1024
"""Bytes queued for Redis at most before a room's video is dropped until a keyframe."""
HLS_IDLE = 30.0
"""Seconds an edge keeps following a room's HLS after its last HLS request."""
HLS_SYNC_WAIT = 2.0
"""Seconds the first HLS request on an edge waits for the origin's sync."""
GOP_ITEMS = 1024
"""Fragments kept for sync bundles at most (a GOP longer than that starts later)."""


@dataclass(slots=True)
class OriginRelay:
    """The origin side of one room: demand, GOP for sync bundles, encoding."""

    room: str
    channel: Channel
    cluster: MediaCluster
    session: str
    init: RelayInit | None = None
    gop: list[Fragment | AudioFragment] = field(default_factory=list)
    recorder: ShowRecorder | None = None
    video_until: float = 0.0
    hls_until: float = 0.0
    last_bundle: float = float("-inf")
    last_hls_sync: float = float("-inf")
    recent: deque[dict[str, bytes]] = field(default_factory=lambda: deque(maxlen=KEEP_SEGMENTS))
    skipping: bool = False
    sent: int = 0

    def __call__(self, item: RelayItem) -> None:
        """``Channel.on_media``: called for everything the room's fan-out gets."""
        active = time.monotonic() < self.video_until
        if isinstance(item, Fragment):
            if item.keyframe:
                self.gop.clear()
            if (self.gop or item.keyframe) and len(self.gop) < GOP_ITEMS:
                self.gop.append(item)
            if active:
                if self.cluster.outbox_bytes > OUTBOX_LIMIT:
                    self.skipping = True
                elif (
                    self.skipping
                    and item.keyframe
                    and self.cluster.outbox_bytes < OUTBOX_LIMIT // 2
                ):
                    self.skipping = False
                if not self.skipping:
                    self._send(encode_fragment(item))
        elif isinstance(item, AudioFragment):
            if self.gop and len(self.gop) < GOP_ITEMS:
                self.gop.append(item)
            if active and not self.skipping:
                self._send(encode_audio(item))
        elif isinstance(item, RelayInit):
            self.init = item
            self.gop.clear()
            if active:
                self._send(encode_init(item))
        elif isinstance(item, RelayEnd):
            self.init = None
            self.gop.clear()
            self._send(encode_end(item.stream))
            if self.recorder is not None and time.monotonic() < self.hls_until:
                self.cluster.publish(hls_channel(self.room), encode_end(self.recorder.show))

    def on_segment(self, record: dict[str, Any], files: dict[str, bytes]) -> None:
        """``ShowRecorder.on_segment``: relay a newly listed segment to HLS edges."""
        self.recent.append(files)
        if self.recorder is not None and time.monotonic() < self.hls_until:
            seg = RelaySegment(self.recorder.show, self._header(), [record], files)
            self.cluster.publish(hls_channel(self.room), encode_segment(seg))

    def on_header(self, _header: dict[str, Any]) -> None:
        """``ShowRecorder.on_header``: a new init segment or the end, for the playlists."""
        if self.recorder is not None and time.monotonic() < self.hls_until:
            seg = RelaySegment(self.recorder.show, self._header(), [], {})
            self.cluster.publish(hls_channel(self.room), encode_segment(seg))

    def _header(self) -> dict[str, Any]:
        assert self.recorder is not None
        return {k: v for k, v in self.recorder.index.items() if k != "segments"}

    def want_hls(self, msg: dict[str, Any]) -> None:
        """An edge serves the room's HLS: relay segments; sync it when it is not in step."""
        now = time.monotonic()
        self.hls_until = now + DEMAND_TTL
        rec = self.recorder
        if rec is None or self.channel.show is None or self.channel.show.recorder is not rec:
            return
        # An edge that saw a gap forgets the show itself; one a segment behind is only
        # waiting for the one in flight.
        if msg.get("hls_show") == rec.show or now - self.last_hls_sync < BUNDLE_GAP:
            return
        self.last_hls_sync = now
        segments = rec.index["segments"]
        files: dict[str, bytes] = {}
        for kept in list(self.recent)[-LIVE_WINDOW:]:
            files.update(kept)
        seg = RelaySegment(rec.show, self._header(), list(segments), files, sync=True)
        self.cluster.publish(hls_channel(self.room), encode_segment(seg))

    def want(self, msg: dict[str, Any]) -> None:
        """An edge wants video: relay for :data:`DEMAND_TTL` more; sync it; keyframe on join."""
        if msg.get("hls"):
            self.want_hls(msg)
        if not msg.get("video", True):
            return
        now = time.monotonic()
        self.video_until = now + DEMAND_TTL
        if not msg.get("synced") and self.init is not None and now - self.last_bundle >= BUNDLE_GAP:
            self.last_bundle = now
            self._send(encode_init(replace(self.init, replay=True)))
            for item in self.gop:
                if isinstance(item, Fragment):
                    self._send(encode_fragment(item, replay=True))
                else:
                    self._send(encode_audio(item, replay=True))
        if msg.get("join"):
            self.channel.request_keyframe()

    def _send(self, message: bytes) -> None:
        self.sent += 1
        self.cluster.relayed_out += 1
        self.cluster.publish(media_channel(self.room), message)


@dataclass(slots=True)
class EdgeRelay:
    """The edge side of one room: relayed messages -> the local fan-out."""

    room: str
    channel: Channel
    sync: EdgeSync = field(default_factory=EdgeSync)
    joins: KeyframeClock = field(
        default_factory=lambda: KeyframeClock(interval=WANT_INTERVAL, min_gap=JOIN_KEYFRAME_GAP)
    )
    received: int = 0
    video: bool = False
    """Subscribed to the media channel (this process has video viewers of the room)."""
    hls: EdgeHls = field(default_factory=EdgeHls)
    hls_until: float = 0.0
    """Until when this process serves the room's HLS (subscribed to the HLS channel)."""
    hls_changed: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver_hls(self, data: bytes) -> None:
        """A message from the room's HLS channel: an origin's segment or show end, taken
        into this process's copy of the room's HLS; a malformed one is logged and dropped.
        """
        try:
            item = decode(data)
        except ValueError:
            log.warning(
                "room %s: malformed HLS relay message dropped", self.room, extra={"room": self.room}
            )
            return
        if isinstance(item, RelaySegment):
            self.hls.accept(item)
        elif isinstance(item, RelayEnd):
            self.hls.end(item.stream)
        self.hls_changed.set()

    def deliver(self, data: bytes) -> None:
        """A message from the room's media channel, passed to this process's video fan-out
        once the edge is in step with the origin (``EdgeSync``); dropped while a show of the
        room runs here, and logged and dropped when malformed."""
        try:
            item = decode(data)
        except ValueError:
            log.warning(
                "room %s: malformed relay message dropped", self.room, extra={"room": self.room}
            )
            return
        self.received += 1
        if self.channel.live or not self.sync.accept(item):
            return  # a local show feeds the fan-out itself
        if isinstance(item, Replayed):
            item = item.item
        fanout = self.channel.fanout
        if isinstance(item, Fragment):
            fanout.publish_fragment(item)
        elif isinstance(item, AudioFragment):
            fanout.publish_audio(item)
        elif isinstance(item, RelayInit):
            fanout.publish_init(item.init, item.stream, item.audio_init)
        elif isinstance(item, RelayEnd):
            fanout.end()


class MediaCluster:
    """This process's part of the cluster-wide streamer (one per application)."""

    def __init__(self, service: LocalPublishers, redis: AnyRedis) -> None:
        """``redis``: this process's own client for the relay (closed by ``close``); on a
        Redis Cluster every channel is a shard channel (``SPUBLISH`` / ``SSUBSCRIBE`` on
        the shard of the room's hash tag)."""
        self.node = secrets.token_hex(6)
        """This process's id (unique per process, even for forked workers)."""
        self.redis = redis
        self.sharded = is_cluster(redis)
        self.subscriber = Subscriber(
            self.redis, whip_reply_channel("-", self.node), self._on_message, self._on_reconnect
        )
        self.origins: dict[str, OriginRelay] = {}
        self.edges: dict[str, EdgeRelay] = {}
        self._outbox: deque[tuple[str, bytes]] = deque()
        self.outbox_bytes = 0
        self._wake = asyncio.Event()
        self.whip = WhipRouting(service, redis, self.node, self.subscriber, self.publish)
        """Where each room's WHIP publisher is, cluster-wide."""
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[None]] = set()
        self.published = 0
        """Messages this process published on the relay channels (media, HLS, control)."""
        self.relayed_out = 0
        """Media relay messages (fragments, init, end) this process's shows sent out."""
        self.relayed_in = 0
        """Media relay messages received from other processes for this one's viewers."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the pub/sub subscriber, the publisher's outbox and the ticker; wait up to 5
        s for the subscription (and go on without it: the subscriber keeps reconnecting)."""
        self._tasks = [
            asyncio.create_task(self.subscriber.run()),
            asyncio.create_task(self._drain()),
            asyncio.create_task(self._ticker()),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscriber.connected.wait(), 5.0)

    async def close(self) -> None:
        """Cancel and await every task this cluster started, then close its Redis connection."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._spawned, return_exceptions=True)
        await self.redis.aclose()

    # ------------------------------------------------------------------ publishing

    def publish(self, channel: str, message: bytes) -> None:
        """Queue one PUBLISH; the drain task sends queued messages in order."""
        self._outbox.append((channel, message))
        self.outbox_bytes += len(message)
        self._wake.set()

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = list(self._outbox)
                self._outbox.clear()
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for channel, message in batch:
                            if self.sharded:
                                pipe.spublish(channel, message)
                            else:
                                pipe.publish(channel, message)
                        await pipe.execute()
                    self.published += len(batch)
                except REDIS_DOWN as exc:
                    log.warning("media relay: %d messages lost: %s", len(batch), exc)
                finally:
                    self.outbox_bytes -= sum(len(m) for _, m in batch)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    # ------------------------------------------------------------------ origin

    async def origin_started(self, room: str, session: str, channel: Channel) -> None:
        """This process now holds ``room``'s publisher: claim the room cluster-wide.

        A publisher of the room on another process is told it was replaced.
        """
        recorder = channel.show.recorder if channel.show is not None else None
        relay = OriginRelay(room, channel, self, session, recorder=recorder)
        self.origins[room] = relay
        channel.on_media = relay
        if recorder is not None:
            recorder.on_segment = relay.on_segment
            recorder.on_header = relay.on_header
        self._drop_edge(room)
        try:
            await self.subscriber.subscribe(media_control_channel(room))
            await self.whip.claim(room, session)
        except (*REDIS_DOWN, TimeoutError) as exc:
            log.warning(
                "room %s: cannot claim the publisher cluster-wide: %s",
                room,
                exc,
                extra={"room": room},
            )

    def origin_ended(self, room: str, session: str) -> None:
        """The room's publisher here ended: release the session key, stop relaying."""
        relay = self.origins.get(room)
        if relay is None or relay.session != session:
            return
        del self.origins[room]
        relay.channel.on_media = None
        if relay.recorder is not None:
            relay.recorder.on_segment = None
            relay.recorder.on_header = None
        self.subscriber.unsubscribe(media_control_channel(room))
        self._spawn(self.whip.release(room, session))

    def _control(self, room: str, msg: dict[str, Any]) -> None:
        self.publish(media_control_channel(room), json.dumps(msg).encode())

    # ------------------------------------------------------------------ edge

    async def watch(self, room: str, channel: Channel) -> None:
        """This process has video viewers of ``room`` and no publisher for it: subscribe."""
        if room in self.origins:
            return
        edge = self._edge(room, channel)
        if not edge.video:
            edge.video = True
            edge.sync = EdgeSync()
            try:
                await self.subscriber.subscribe(media_channel(room))
            except TimeoutError:
                log.warning("room %s: media subscription not confirmed", room, extra={"room": room})
        if edge.joins.urgent(time.monotonic()):
            self._want(edge, join=True)

    def unwatch(self, room: str) -> None:
        """No more viewers here: unsubscribe (the origin stops within DEMAND_TTL)."""
        edge = self.edges.get(room)
        if edge is None or not edge.video:
            return
        edge.video = False
        self.subscriber.unsubscribe(media_channel(room))
        if edge.hls_until <= time.monotonic():
            self._drop_edge(room)

    def _edge(self, room: str, channel: Channel) -> EdgeRelay:
        edge = self.edges.get(room)
        if edge is None:
            edge = self.edges[room] = EdgeRelay(room, channel)
        edge.channel = channel
        return edge

    def _drop_edge(self, room: str) -> None:
        edge = self.edges.pop(room, None)
        if edge is None:
            return
        if edge.video:
            self.subscriber.unsubscribe(media_channel(room))
        if edge.hls_until:
            self.subscriber.unsubscribe(hls_channel(room))

    def _want(self, edge: EdgeRelay, *, join: bool = False) -> None:
        msg: dict[str, Any] = {"op": "want", "node": self.node, "video": edge.video}
        if edge.video:
            msg["synced"] = edge.sync.synced is not None
        if join:
            msg["join"] = True
        if edge.hls_until > time.monotonic():
            current = edge.hls.current
            msg["hls"] = True
            msg["hls_show"] = current.show if current is not None else None
            msg["hls_last"] = current.last_index if current is not None else None
        self._control(edge.room, msg)

    # ------------------------------------------------------------------ HLS on an edge

    async def hls_edge(self, room: str, channel: Channel) -> EdgeHls | None:
        """The room's HLS as relayed from its origin (None when no process publishes it).

        The first request subscribes to the room's HLS channel and waits up to
        :data:`HLS_SYNC_WAIT` for the origin's sync; this process then follows the
        room for :data:`HLS_IDLE` after its last HLS request.
        """
        if room in self.origins:
            return None
        edge = self._edge(room, channel)
        now = time.monotonic()
        first = edge.hls_until == 0.0
        edge.hls_until = now + HLS_IDLE
        if first:
            try:
                await self.subscriber.subscribe(hls_channel(room))
            except TimeoutError:
                return None
        if edge.hls.in_step:
            return edge.hls
        if not await self.whip.is_published(room):
            return None  # nobody publishes the room
        self._want(edge)
        deadline = now + HLS_SYNC_WAIT
        while not edge.hls.in_step and time.monotonic() < deadline:
            edge.hls_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(edge.hls_changed.wait(), deadline - time.monotonic())
        return edge.hls if edge.hls.in_step else None

    def hls_file(self, room: str, show: str, name: str) -> bytes | None:
        """A segment or init segment of the room's live show kept in memory here."""
        edge = self.edges.get(room)
        return edge.hls.file(show, name) if edge is not None else None

    async def live_elsewhere(self, room: str) -> bool:
        """True when another process holds the room's publisher (its init will follow)."""
        return await self.whip.live_elsewhere(room)

    async def remote_delete(self, room: str, session: str) -> bool:
        """End ``session`` of ``room`` on whichever process holds it; its answer."""
        return await self.whip.remote_delete(room, session)

    # ------------------------------------------------------------------ messages

    def _on_message(self, channel: str, data: bytes) -> None:
        room = room_of_channel(channel)
        if channel == media_channel(room):
            edge = self.edges.get(room)
            if edge is not None and edge.video:
                self.relayed_in += 1
                edge.deliver(data)
            return
        if channel == hls_channel(room):
            edge = self.edges.get(room)
            if edge is not None:
                edge.deliver_hls(data)
            return
        try:
            msg = json.loads(data)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        if channel == media_control_channel(room):
            relay = self.origins.get(room)
            op = msg.get("op")
            if relay is None:
                return
            if op == "want":
                relay.want(msg)
            elif op == "delete":
                self._spawn(self.whip.routed_delete(room, msg))
            elif op == "replaced":
                self.whip.replaced(room, relay.session, msg)
        else:
            self.whip.on_reply(msg)

    async def _on_reconnect(self) -> None:
        for edge in self.edges.values():
            edge.sync = EdgeSync()  # messages were lost: resync
            edge.hls = EdgeHls()
            self._want(edge)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(WANT_INTERVAL)
            now = time.monotonic()
            for edge in list(self.edges.values()):
                hls = edge.hls_until > now
                if not hls and edge.hls_until:
                    edge.hls_until = 0.0
                    edge.hls = EdgeHls()
                    self.subscriber.unsubscribe(hls_channel(edge.room))
                if not hls and not edge.video:
                    self._drop_edge(edge.room)
                elif (edge.video and edge.channel.fanout.viewers) or hls:
                    self._want(edge)
            await self.whip.keep([(r.room, r.session) for r in self.origins.values()], now)
