"""Video fan-out under a viewer that stops reading.

First over real socket pairs (the policy, step by step), then against a real
server with real WebSocket viewers.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp

from livecart.streamer.fanout import HEADER, KIND_FRAGMENT, TRACK_VIDEO, VideoFanout
from livecart.streamer.opus import AudioFragment
from livecart.streamer.packager import Fragment, InitSegment, VideoPackager
from livecart.streamer.synthetic import EncodedFrame, encode_clip
from tests.streamer_fixtures.harness import running_server, wait_for


def package(frames: list[EncodedFrame]) -> tuple[InitSegment, list[Fragment]]:
    packager = VideoPackager()
    events = []
    for f in frames:
        events += packager.push(f.data, f.timestamp, time.time())
    events += packager.flush()
    init = next(e for e in events if isinstance(e, InitSegment))
    return init, [e for e in events if isinstance(e, Fragment)]


async def socket_transport() -> tuple[asyncio.Transport, socket.socket]:
    """A real asyncio transport whose peer socket we read (or not) by hand."""
    ours, theirs = socket.socketpair()
    for s in (ours, theirs):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    theirs.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    assert isinstance(transport, asyncio.Transport)
    return transport, theirs


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


async def test_a_slow_viewer_skips_to_the_next_keyframe_then_resumes() -> None:
    init, frags = package(encode_clip(width=640, height=360, frames=90, gop=30, bitrate=3_000_000))
    fanout = VideoFanout(soft_limit=16 * 1024, hard_limit=10 * 1024 * 1024)
    fast_t, fast_s = await socket_transport()
    slow_t, slow_s = await socket_transport()
    try:
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
    finally:
        fast_t.close()
        slow_t.close()
        fast_s.close()
        slow_s.close()
        await asyncio.sleep(0)


async def read_viewer(
    http: aiohttp.ClientSession, url: str, delays: list[float], stop: asyncio.Event
) -> int:
    count = 0
    async with http.ws_connect(url) as ws:
        while not stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), 0.5)
            except TimeoutError:
                continue
            if msg.type == aiohttp.WSMsgType.BINARY:
                kind, _, track, _, produced = HEADER.unpack_from(msg.data)
                if kind == KIND_FRAGMENT and track == TRACK_VIDEO:
                    count += 1
                    delays.append(time.time() - produced / 1e6)
            elif msg.type != aiohttp.WSMsgType.TEXT:
                break
    return count


async def test_a_viewer_that_stops_reading_does_not_slow_the_others(tmp_path: Path) -> None:
    clip = encode_clip(width=640, height=360, frames=60, gop=30, bitrate=4_000_000)
    async with running_server(tmp_path) as server, aiohttp.ClientSession() as http:
        channel = server.service.channel("room1")
        channel.fanout.soft_limit = 64 * 1024
        channel.fanout.hard_limit = 1024 * 1024
        channel.start_show("s1")
        host, port = server.url.removeprefix("http://").split(":")
        # The stalled viewer: a raw socket that upgrades and then never reads.
        stalled = socket.create_connection((host, int(port)))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(
            b"GET /ws/video/room1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        stop = asyncio.Event()
        delays: list[float] = []
        readers = [
            asyncio.create_task(read_viewer(http, f"{server.url}/ws/video/room1", delays, stop))
            for _ in range(3)
        ]
        await wait_for(lambda: len(channel.fanout.viewers) == 4, 5, "four viewers")
        worst_call = 0.0
        sent = 0
        timestamp = 0
        deadline = time.monotonic() + 30
        while channel.fanout.stats.dropped == 0 and time.monotonic() < deadline:
            for frame in clip:
                t0 = time.perf_counter()
                channel.on_video_frame(frame.data, timestamp)
                worst_call = max(worst_call, time.perf_counter() - t0)
                timestamp += 3000
                sent += 1
                await asyncio.sleep(0.002)
        assert channel.fanout.stats.dropped == 1, "the stalled viewer is dropped at the hard limit"
        assert channel.fanout.stats.skipped > 0, "it was skipped before being dropped"
        await asyncio.sleep(0.3)
        stop.set()
        counts = await asyncio.gather(*readers)
        delivered = channel.fanout.stats.fragments
        assert all(c == delivered for c in counts), (counts, delivered)
        delays.sort()
        assert delays[int(len(delays) * 0.99)] < 0.5, delays[-5:]
        assert worst_call < 0.1, worst_call
        assert len(channel.fanout.viewers) == 3
        stalled.close()
