"""End to end: Chromium publishes over WHIP, Chromium plays over WebSocket+MSE, HLS appears.

Real parts only: aiohttp on 127.0.0.1, aiortc, Debian's Chromium with its fake
camera, PyAV to parse what the server wrote.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiortc import rtcrtpreceiver

from livecart.streamer.fmp4 import read_boxes
from tests.chromium import poll
from tests.streamer_fixtures.harness import chromium, running_server, wait_for

ROOM = "room1"


@pytest.fixture
def decoders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every decoder aiortc creates (there must be none)."""
    created: list[str] = []
    real = rtcrtpreceiver.get_decoder

    def spy(codec: Any) -> Any:
        created.append(codec.name)
        return real(codec)

    monkeypatch.setattr(rtcrtpreceiver, "get_decoder", spy)
    return created


async def eval_js(page: Any, expr: str) -> Any:
    return await page.evaluate(expr)


async def test_publish_play_hls_record(tmp_path: Path, decoders: list[str]) -> None:
    async with running_server(tmp_path) as server, chromium() as browser:
        service = server.service
        host = await browser.new_page()
        await host.goto(f"{server.url}/test/publish/{ROOM}")
        state = await poll(
            host,
            "window.whip && ['connected','failed','error'].includes(window.whip.state)"
            " && window.whip.state",
            20,
            "publisher connected",
        )
        assert state == "connected", await eval_js(host, "window.whip.error")
        assert server.live_events == [(ROOM, True)]

        # The server receives H.264 as encoded frames and packages them.
        publisher = service.sessions.publisher(ROOM)
        assert publisher is not None
        channel = service.channels[ROOM]
        show = channel.show
        assert show is not None
        await wait_for(lambda: show.packager.keyframes_in >= 1, 10, "a keyframe")
        await wait_for(lambda: publisher.video_frames >= 30, 10, "30 encoded frames")
        assert channel.last_init is not None
        assert channel.last_init.codec.startswith("avc1.42")
        assert (channel.last_init.width, channel.last_init.height) == (640, 360)

        # A viewer plays the low-latency stream.
        viewer = await browser.new_page()
        await viewer.goto(f"{server.url}/test/play/{ROOM}")
        await poll(
            viewer,
            "(() => { const v = document.getElementById('v');"
            " return v.videoWidth > 0 && v.currentTime > 1.5; })()",
            20,
            "video playing",
        )
        t1 = await eval_js(viewer, "document.getElementById('v').currentTime")
        await asyncio.sleep(1.0)
        t2 = await eval_js(viewer, "document.getElementById('v').currentTime")
        assert t2 > t1, "currentTime must advance"
        width = await eval_js(viewer, "document.getElementById('v').videoWidth")
        assert width == 640
        latency = await eval_js(viewer, "window.player.latency")
        assert latency < 1.5
        # Opus audio is kept encoded and plays from its own SourceBuffer.
        assert show.audio is not None and show.audio.sequence > 10
        audio_buffered = await eval_js(
            viewer,
            "(() => { const sb = window.player.sourceBuffer('audio');"
            " if (!sb || !sb.buffered.length) return 0;"
            " return sb.buffered.end(0) - sb.buffered.start(0); })()",
        )
        assert audio_buffered > 0.5

        # HLS: a master playlist, video and AAC renditions of fMP4 segments that parse.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/hls/{ROOM}/index.m3u8") as resp:
                assert resp.status == 200
                assert resp.headers["Cache-Control"] == "public, max-age=1"
                master = await resp.text()
            assert 'CODECS="avc1.42' in master and "mp4a.40.2" in master
            assert "RESOLUTION=640x360" in master and 'URI="audio.m3u8"' in master
            playlist = ""
            deadline = time.monotonic() + 20
            while playlist.count("#EXTINF") < 2 and time.monotonic() < deadline:
                async with http.get(f"{server.url}/hls/{ROOM}/video.m3u8") as resp:
                    if resp.status == 200:
                        assert resp.headers["Cache-Control"] == "public, max-age=1"
                        playlist = await resp.text()
                await asyncio.sleep(0.5)
            assert playlist.count("#EXTINF") >= 2, playlist
            assert "#EXT-X-VERSION:7" in playlist
            lines = playlist.splitlines()
            map_uri = next(line for line in lines if line.startswith("#EXT-X-MAP"))
            init_uri = map_uri.split('"')[1]
            seg_uri = next(line for line in lines if line.endswith(".m4s"))
            async with http.get(f"{server.url}/hls/{ROOM}/{init_uri}") as resp:
                assert resp.status == 200
                assert "immutable" in resp.headers["Cache-Control"]
                init = await resp.read()
            async with http.get(f"{server.url}/hls/{ROOM}/{seg_uri}") as resp:
                assert resp.status == 200
                assert "immutable" in resp.headers["Cache-Control"]
                segment = await resp.read()
            async with http.get(f"{server.url}/hls/{ROOM}/audio.m3u8") as resp:
                assert resp.status == 200
                audio_playlist = await resp.text()
            aac_uri = next(line for line in audio_playlist.splitlines() if "aac-0" in line)
            aac_init_uri = aac_uri.rsplit("/", 1)[0] + "/aac-init.mp4"
            async with http.get(f"{server.url}/hls/{ROOM}/{aac_init_uri}") as resp:
                aac_init = await resp.read()
            async with http.get(f"{server.url}/hls/{ROOM}/{aac_uri}") as resp:
                assert "immutable" in resp.headers["Cache-Control"]
                aac_segment = await resp.read()
        container = av.open(io.BytesIO(aac_init + aac_segment))
        try:
            stream = container.streams.audio[0]
            assert stream.codec_context.name == "aac"
            aac_frames = list(container.decode(stream))  # the test may decode; the server must not
            assert sum(f.samples for f in aac_frames) > 48000  # more than a second of sound
        finally:
            container.close()
        assert [kind for kind, _ in read_boxes(init)] == [b"ftyp", b"moov"]
        kinds = [kind for kind, _ in read_boxes(segment)]
        assert kinds[:2] == [b"moof", b"mdat"] and len(kinds) % 2 == 0
        container = av.open(io.BytesIO(init + segment))
        try:
            stream = container.streams.video[0]
            assert stream.codec_context.width == 640
            packets = [p for p in container.demux(stream) if p.size]
        finally:
            container.close()
        assert len(packets) == len(kinds) // 2
        assert packets[0].is_keyframe

        # The host changes resolution: a new init segment, playback goes on at the new
        # size, and HLS marks the change with a discontinuity.
        await host.evaluate(
            """(async () => {
                const sender = window.whip.publisher.pc.getSenders()
                    .find((s) => s.track && s.track.kind === "video");
                await sender.track.applyConstraints({ width: 320, height: 180 });
            })()"""
        )
        await wait_for(lambda: channel.last_init.width == 320, 10, "a 320-wide init segment")
        assert channel.last_init.generation == 2
        await poll(
            viewer, "document.getElementById('v').videoWidth === 320", 10, "new size playing"
        )
        t3 = await eval_js(viewer, "document.getElementById('v').currentTime")
        await asyncio.sleep(1.0)
        assert await eval_js(viewer, "document.getElementById('v').currentTime") > t3
        await wait_for(
            lambda: any(s["generation"] == 2 for s in show.recorder.index["segments"]),
            10,
            "a segment of the new size",
        )
        video_playlist = show.playlist("video") or ""
        assert "#EXT-X-DISCONTINUITY" in video_playlist
        assert "init-2.mp4" in video_playlist

        # The host stops: DELETE ends the session, the room goes offline.
        await host.evaluate("window.whip.publisher.stop()")
        await wait_for(lambda: service.peer_connections() == 0, 10, "publisher closed")
        await wait_for(lambda: server.live_events[-1] == (ROOM, False), 5, "offline event")
        await poll(viewer, "window.player.status === 'ended'", 5, "the player told of the end")
        assert decoders == [], "the ingest path must not create a decoder"
        frames_in = show.packager.frames_in
        assert frames_in >= 30

    # The show was recorded: index + segments replay as a VOD playlist.
    async with running_server(tmp_path) as replay, aiohttp.ClientSession() as http:
        async with http.get(f"{replay.url}/recordings/{ROOM}") as resp:
            listing = await resp.json()
        (recorded,) = listing["shows"]
        assert recorded["ended_at"] is not None and recorded["segments"] >= 2
        base = recorded["playlist"].rsplit("/", 1)[0]
        async with http.get(f"{replay.url}{base}/video.m3u8") as resp:
            assert resp.status == 200 and "max-age=86400" in resp.headers["Cache-Control"]
            vod = await resp.text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in vod and vod.endswith("#EXT-X-ENDLIST\n")
    shows = list((tmp_path / "media" / ROOM).iterdir())
    assert len(shows) == 1
    files = {p.name for p in shows[0].iterdir()}
    assert {"index.json", "init-1.mp4", "seg-000000.m4s", "audio-init.mp4"} <= files
    assert any(name.startswith("aseg-") for name in files)
    audio_init = (shows[0] / "audio-init.mp4").read_bytes()
    audio_seg = (shows[0] / "aseg-000001.m4s").read_bytes()
    container = av.open(io.BytesIO(audio_init + audio_seg))
    try:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        assert sum(1 for p in container.demux(stream) if p.size) >= 50  # ~2 s of 20 ms
    finally:
        container.close()
