"""Video fan-out under a viewer that stops reading.

First over real socket pairs (the policy, step by step), then against a real
server with real WebSocket viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from livecart.streamer.fanout import HEADER, KIND_FRAGMENT, TRACK_VIDEO, VideoFanout
from livecart.streamer.opus import AudioFragment
from livecart.streamer.packager import Fragment, InitSegment, VideoPackager
from livecart.streamer.synthetic import EncodedFrame, encode_clip
from livecart.transport import Transport
from tests.streamer_fixtures.harness import running_server, wait_for


def package(frames: list[EncodedFrame]) -> tuple[InitSegment, list[Fragment]]:
    packager = VideoPackager()
    events = []
    for f in frames:
        events += packager.push(f.data, f.timestamp, time.time())
    events += packager.flush()
    init = next(e for e in events if isinstance(e, InitSegment))
    return init, [e for e in events if isinstance(e, Fragment)]


class SocketPairs:
    """Real asyncio transports whose peer sockets we read (or not) by hand.

    Every transport and socket made is closed at teardown, also when the test fails.
    """

    def __init__(self) -> None:
        self.transports: list[asyncio.BaseTransport] = []
        self.sockets: list[socket.socket] = []

    async def make(self) -> tuple[asyncio.Transport, socket.socket]:
        ours, theirs = socket.socketpair()
        self.sockets += [ours, theirs]
        for s in (ours, theirs):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        theirs.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
        self.transports.append(transport)
        assert isinstance(transport, asyncio.Transport)
        return transport, theirs

    def close(self) -> None:
        for transport in self.transports:
            transport.abort()
        for s in self.sockets:
            s.close()


@pytest.fixture
async def pairs() -> AsyncIterator[SocketPairs]:
    made = SocketPairs()
    try:
        yield made
    finally:
        made.close()
        await asyncio.sleep(0)  # let the transports' connection_lost callbacks run


def drain(sock: socket.socket) -> int:
    total = 0
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return total
        if not chunk:
            return total
        total += len(chunk)


async def read_all(transport: asyncio.Transport, sock: socket.socket) -> int:
    """Read from the peer socket until the transport's buffer is empty (bounded)."""
    total = 0
    for _ in range(500):
        total += drain(sock)
        if transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.001)
    return total + drain(sock)


async def test_a_slow_viewer_skips_to_the_next_keyframe_then_resumes(pairs: SocketPairs) -> None:
    init, frags = package(encode_clip(width=640, height=360, frames=90, gop=30, bitrate=3_000_000))
    fanout = VideoFanout(soft_limit=16 * 1024, hard_limit=10 * 1024 * 1024)
    fast_t, fast_s = await pairs.make()
    slow_t, slow_s = await pairs.make()
    fanout.publish_init(init, "s1")
    fast = fanout.add(fast_t)
    slow = fanout.add(slow_t)
    for frag in frags[:30]:  # first GOP: the slow one stops reading
        fanout.publish_fragment(frag)
        await read_all(fast_t, fast_s)
    assert slow.skipping and slow.skipped > 0
    assert fast.skipped == 0 and fast.sent == 30
    # Audio follows the video state: nothing for the skipping viewer. With video
    # stalled (last frame 0.5 s older than the audio) it goes out on its own.
    before = slow_t.get_write_buffer_size()
    stale = frags[29].produced_at + 0.5
    fanout.publish_audio(AudioFragment(1, 0, 2880, stale, b"\0" * 3000))
    assert slow_t.get_write_buffer_size() == before
    assert 3000 < await read_all(fast_t, fast_s) < 3100
    # The slow viewer catches up; it resumes exactly at the next keyframe.
    await read_all(slow_t, slow_s)
    assert slow_t.get_write_buffer_size() == 0
    skipped_before = slow.skipped
    # With video flowing, audio waits and rides in the next video fragment's write.
    fanout.publish_audio(AudioFragment(2, 2880, 2880, frags[30].produced_at, b"\1" * 2000))
    assert await read_all(fast_t, fast_s) == 0
    fanout.publish_fragment(frags[30])
    assert frags[30].keyframe and not slow.skipping
    assert slow.skipped == skipped_before
    assert fast.sent == 31
    got = await read_all(fast_t, fast_s)
    assert got > 2000 + len(frags[30].data)


class SpyTransport:
    """Wraps a viewer's transport; notes the unsent bytes before every write and the abort."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.buffered_before_writes: list[int] = []
        self.largest_write = 0
        self.buffered_at_abort: int | None = None

    def write(self, data: bytes) -> None:
        self.buffered_before_writes.append(self.inner.get_write_buffer_size())
        self.largest_write = max(self.largest_write, len(data))
        self.inner.write(data)

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def close(self) -> None:
        self.inner.close()

    def abort(self) -> None:
        self.buffered_at_abort = self.inner.get_write_buffer_size()
        self.inner.abort()


async def read_viewer(http: aiohttp.ClientSession, url: str, counts: list[int], me: int) -> None:
    """A WebSocket viewer that reads everything, counting video fragments in ``counts[me]``."""
    async with http.ws_connect(url) as ws:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                kind, _, track, _, _ = HEADER.unpack_from(msg.data)
                if kind == KIND_FRAGMENT and track == TRACK_VIDEO:
                    counts[me] += 1


async def test_a_viewer_that_stops_reading_does_not_slow_the_others(tmp_path: Path) -> None:
    """The mechanism, not a stopwatch: nothing here depends on how busy the machine is.

    The fan-out is synchronous (it cannot await a viewer); the stalled viewer is written
    to only while its unsent bytes are under the soft limit, is skipped, and is aborted
    with at most the hard limit (plus one message) queued; the readers are never skipped
    and receive every fragment.
    """
    clip = encode_clip(width=640, height=360, frames=60, gop=30, bitrate=4_000_000)
    async with (
        running_server(tmp_path) as server,
        aiohttp.ClientSession() as http,
        contextlib.AsyncExitStack() as cleanup,
    ):
        channel = server.service.channel("room1")
        fanout = channel.fanout
        fanout.soft_limit = 64 * 1024
        fanout.hard_limit = 1024 * 1024
        channel.start_show("s1")
        host, port = server.url.removeprefix("http://").split(":")
        # The stalled viewer: a raw socket that upgrades and then never reads.
        stalled = cleanup.enter_context(socket.create_connection((host, int(port))))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(
            b"GET /ws/video/room1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await wait_for(lambda: len(fanout.viewers) == 1, 5, "the stalled viewer")
        (stalled_viewer,) = fanout.viewers
        spy = SpyTransport(stalled_viewer.transport)
        stalled_viewer.transport = spy
        counts = [0, 0, 0]
        readers = [
            asyncio.create_task(read_viewer(http, f"{server.url}/ws/video/room1", counts, i))
            for i in range(3)
        ]
        cleanup.push_async_callback(cancel_all, readers)
        await wait_for(lambda: len(fanout.viewers) == 4, 5, "four viewers")
        readers_state = [v for v in fanout.viewers if v is not stalled_viewer]
        timestamp = 0
        deadline = time.monotonic() + 60  # a guard against a hang, not a performance bound
        while fanout.stats.dropped == 0 and time.monotonic() < deadline:
            for frame in clip:
                channel.on_video_frame(frame.data, timestamp)
                timestamp += 3000
                await asyncio.sleep(0.002)
        assert fanout.stats.dropped == 1, "the stalled viewer is dropped"
        assert stalled_viewer not in fanout.viewers and len(fanout.viewers) == 3
        assert stalled_viewer.skipped > 0, "it was skipped before being dropped"
        assert max(spy.buffered_before_writes) <= fanout.soft_limit
        assert spy.buffered_at_abort is not None
        assert spy.buffered_at_abort <= fanout.hard_limit + spy.largest_write
        delivered = fanout.stats.fragments
        await wait_for(lambda: counts == [delivered] * 3, 30, "every fragment at every reader")
        assert all(v.skipped == 0 and v.sent == delivered for v in readers_state)


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
