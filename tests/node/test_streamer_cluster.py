"""One show across two nodes on one Redis: video relay, WHIP routing, relay demand.

Real nodes (``tests.hubclient.running_node``, full apps on random ports), a real
Redis, aiortc publishing the synthetic clip over WHIP, raw WebSocket viewers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection

from livecart.streamer.app import STREAMER
from livecart.streamer.fanout import HEADER, KIND_FRAGMENT, KIND_INIT, TRACK_VIDEO
from livecart.streamer.synthetic import EncodedFrame, PacketTrack, encode_clip, whip_publish
from tests.hubclient import Node, create_room, running_node

ROOM = "r1"
_CLIP: list[EncodedFrame] = []


def clip() -> list[EncodedFrame]:
    if not _CLIP:
        _CLIP.extend(encode_clip(width=320, height=240, frames=60, gop=15, bitrate=300_000))
    return _CLIP


@asynccontextmanager
async def nodes(redis_url: str) -> AsyncIterator[tuple[Node, Node]]:
    async with (
        running_node(redis_url, "node-a", ice_hosts=("127.0.0.1",)) as a,
        running_node(redis_url, "node-b", ice_hosts=("127.0.0.1",)) as b,
    ):
        yield a, b


async def publish(node: Node, token: str) -> tuple[RTCPeerConnection, str]:
    return await whip_publish(f"{node.url}/whip/{ROOM}", token, PacketTrack(clip()))


class Viewer:
    """A raw /ws/video viewer collecting what it gets."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.texts: list[dict[str, Any]] = []
        self.binary: list[bytes] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.texts.append(msg.json())
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self.binary.append(msg.data)

    def video(self) -> list[bytes]:
        return [m for m in self.binary if HEADER.unpack_from(m)[2] == TRACK_VIDEO]

    def fragments(self) -> list[bytes]:
        return [m for m in self.video() if m[0] == KIND_FRAGMENT]

    async def until(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out: {self.texts[-3:]}"
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.ws.close()
        self.task.cancel()


async def view(http: aiohttp.ClientSession, node: Node) -> Viewer:
    return Viewer(await http.ws_connect(f"{node.url}/ws/video/{ROOM}"))


def starts_at_keyframe(viewer: Viewer) -> None:
    video = viewer.video()
    first = next(i for i, m in enumerate(video) if m[0] == KIND_INIT)
    kind, flags, *_ = HEADER.unpack_from(video[first + 1])
    assert kind == KIND_FRAGMENT and flags & 1, "the first fragment after init is a keyframe"


async def test_viewers_on_another_node_get_the_same_bytes_and_the_relay_stops(
    redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with nodes(redis_url) as (a, b):
        token = await create_room(http, a, ROOM)
        pc, _location = await publish(a, token)
        try:
            on_a = await view(http, a)
            await on_a.until(lambda: len(on_a.fragments()) >= 5)
            on_b = [await view(http, b) for _ in range(3)]
            for v in on_b:
                await v.until(lambda v=v: len(v.fragments()) >= 40)
                starts_at_keyframe(v)
                assert v.texts[0]["type"] == "init"  # never told "offline": the show is live
            await on_a.until(lambda: len(on_a.fragments()) >= 60)
            # byte-identical to the origin's messages, in order
            sent_a = on_a.fragments()
            for v in on_b:
                got = v.fragments()
                start = sent_a.index(got[0])
                assert got[:20] == sent_a[start : start + 20]
            assert on_b[0].texts[-1]["type"] == "init"
            init_a = next(m for m in on_a.video() if m[0] == KIND_INIT)
            assert init_a in on_b[0].video()

            cluster_a = a.app[STREAMER].cluster
            assert cluster_a is not None
            relay = cluster_a.origins[ROOM]
            assert relay.sent > 0
            for v in on_b:
                await v.close()
            # no relay traffic once the edge's viewers are gone (DEMAND_TTL, 3 s)
            await asyncio.sleep(3.5)
            before = relay.sent
            await asyncio.sleep(1.5)
            assert relay.sent == before
            assert ROOM not in b.app[STREAMER].cluster.edges  # type: ignore[union-attr]
            # a new edge viewer brings it back, starting at a keyframe
            again = await view(http, b)
            await again.until(lambda: len(again.fragments()) >= 10)
            starts_at_keyframe(again)
            await again.close()
            await on_a.close()
        finally:
            await pc.close()


async def test_whip_delete_and_replace_from_another_node(
    redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with nodes(redis_url) as (a, b):
        token = await create_room(http, a, ROOM)
        auth = {"Authorization": f"Bearer {token}"}
        pc_a, location = await publish(a, token)
        pc_b: RTCPeerConnection | None = None
        try:
            service_a = a.app[STREAMER]
            assert len(service_a.sessions) == 1
            async with http.patch(f"{b.url}{location}") as resp:
                assert resp.status == 405
            async with http.delete(f"{b.url}/whip/{ROOM}/nosuchsession", headers=auth) as resp:
                assert resp.status == 404
            async with http.delete(f"{b.url}{location}", headers=auth) as resp:
                assert resp.status == 200, await resp.text()
            assert len(service_a.sessions) == 0
            async with http.delete(f"{b.url}{location}", headers=auth) as resp:
                assert resp.status == 404

            # a publisher on A, viewers on both, then a new POST on B replaces it
            await pc_a.close()
            pc_a, location = await publish(a, token)
            on_a, on_b = await view(http, a), await view(http, b)
            for v in (on_a, on_b):
                await v.until(lambda v=v: len(v.fragments()) >= 10)
            stream_a = on_b.texts[-1]["stream"]
            pc_b, location_b = await publish(b, token)
            service_b = b.app[STREAMER]
            deadline = time.monotonic() + 5
            while len(service_a.sessions) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(service_a.sessions) == 0 and len(service_b.sessions) == 1
            for v in (on_a, on_b):
                await v.until(
                    lambda v=v: any(
                        t["type"] == "init" and t["stream"] != stream_a for t in v.texts
                    )
                )
                n = len(v.fragments())
                await v.until(lambda v=v, n=n: len(v.fragments()) >= n + 10)
            assert {"type": "ended"} in on_a.texts  # its show ended, then it relays B's
            # DELETE of the new session through A reaches B
            async with http.delete(f"{a.url}{location_b}", headers=auth) as resp:
                assert resp.status == 200
            assert len(service_b.sessions) == 0
            await on_a.close()
            await on_b.close()
        finally:
            await pc_a.close()
            if pc_b is not None:
                await pc_b.close()


async def hls_same_on(http: aiohttp.ClientSession, nodes_: list[str], timeout: float = 15.0) -> str:
    """Wait until every node serves the same live video playlist (with segments) and
    byte-identical segment files; return the playlist."""
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, "the nodes never served the same HLS"
        texts = []
        for url in nodes_:
            async with http.get(f"{url}/hls/{ROOM}/video.m3u8") as resp:
                texts.append(await resp.text() if resp.status == 200 else "")
        if texts[0].count("#EXTINF") >= 2 and all(t == texts[0] for t in texts):
            break
        await asyncio.sleep(0.2)
    for name in ("index.m3u8", "audio.m3u8"):
        got = []
        for url in nodes_:
            async with http.get(f"{url}/hls/{ROOM}/{name}") as resp:
                got.append((resp.status, await resp.read()))
        assert all(g == got[0] for g in got), name
    uris = [line for line in texts[0].splitlines() if line and not line.startswith("#")]
    uris += [line.split('"')[1] for line in texts[0].splitlines() if "EXT-X-MAP" in line]
    show = uris[0].split("/")[0]
    uris.append(f"{show}/video.m3u8")
    for uri in uris:
        bodies = []
        for url in nodes_:
            async with http.get(f"{url}/hls/{ROOM}/{uri}") as resp:
                assert resp.status == 200, (url, uri)
                bodies.append(await resp.read())
        if uri.endswith("video.m3u8"):
            continue  # the whole show's playlist may grow between the two reads
        assert all(b == bodies[0] for b in bodies), uri
    return texts[0]


async def test_hls_on_another_node_is_byte_identical(
    redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with nodes(redis_url) as (a, b):
        token = await create_room(http, a, ROOM)
        async with http.get(f"{b.url}/hls/{ROOM}/index.m3u8") as resp:
            assert resp.status == 404  # offline everywhere
        pc, _location = await publish(a, token)
        try:
            first = await hls_same_on(http, [a.url, b.url])
            # B follows on: later segments are the same too
            await asyncio.sleep(2.0)
            later = await hls_same_on(http, [a.url, b.url])
            assert later != first
        finally:
            await pc.close()
