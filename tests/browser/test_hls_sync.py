"""An HLS viewer sees the pin when its video reaches the moment the host pinned.

The host goes live from the studio (Chromium's fake camera, WHIP). A viewer plays the
room's HLS playlist (``/live/{room}?hls=1``: the live playlist through MSE, seconds
behind the host). The host pins a product; the event reaches the viewer at once, but
the page applies it when the picture it shows reaches the event's server time (the
playlist's EXT-X-PROGRAM-DATE-TIME). The check is independent of the page's own
mapping: the video position at which the pin appeared is turned into server time with
the recording's index on disk (each segment's ``start`` and ``program_time``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from livecart.redis_process import RedisProcess
from tests.hubclient import connect
from tests.pages_fixtures.harness import (
    DESKTOP,
    STUDIO,
    chromium,
    create_room,
    go_live,
    new_page,
    node,
    poll,
)

ROOM = "hls-sync"


async def test_an_hls_viewer_gets_the_pin_with_the_picture(
    redis_server: RedisProcess, redis_client: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        token = await create_room(http, n, ROOM, "In sync", "Mia")
        auth = {"Authorization": f"Bearer {token}"}
        body = {"name": "Teapot", "price": 8800, "currency": "CNY", "stock": 5}
        async with http.post(f"{n.url}/api/rooms/{ROOM}/products", json=body, headers=auth) as r:
            pid = (await r.json())["data"]["product"]["id"]

        studio = await new_page(browser, errors, **STUDIO)
        await studio.goto(f"{n.url}/studio/{ROOM}#token={token}")
        await poll(studio, "window.livecart && window.livecart.conn.status === 'open'")
        await go_live(studio)

        viewer = await new_page(browser, errors, **DESKTOP)
        await viewer.goto(f"{n.url}/live/{ROOM}?hls=1")
        await poll(
            viewer,
            "window.livecart.player.serverTime() !== null"
            " && document.getElementById('video').currentTime > 0",
            30,
            "HLS playing",
        )
        behind = await viewer.evaluate("Date.now() / 1000 - window.livecart.player.serverTime()")
        assert behind > 1.0, behind  # HLS is seconds behind the host

        # The live playlist names each segment's server time.
        async with http.get(f"{n.url}/hls/{ROOM}/video.m3u8") as r:
            playlist = await r.text()
        assert playlist.count("#EXT-X-PROGRAM-DATE-TIME:") == playlist.count("#EXTINF:") > 0

        client = await connect(http, n, ROOM, name="watcher")
        async with http.post(
            f"{n.url}/api/rooms/{ROOM}/pin", json={"product_id": pid}, headers=auth
        ) as r:
            assert r.status == 200
        await client.wait_for(lambda c: any(e["type"] == "pin" for e in c.events))
        pin = next(e for e in client.events if e["type"] == "pin")
        arrived = time.time()
        await client.ws.close()

        # Not yet: the viewer's picture is still before the pin.
        assert await viewer.evaluate("window.livecart.model.pinned") is None
        await poll(viewer, f"window.livecart.model.pinned === '{pid}'", 30, "the pin, in step")
        applied = time.time()
        await viewer.locator("#pinned", has_text="Teapot").wait_for()
        entry = await viewer.evaluate(
            f"window.livecart.videoClock.log.find(e => e.seq === {pin['seq']})"
        )
        assert entry is not None and entry["ts"] == pin["ts"]
        assert applied - arrived > 1.0  # held back with the video

        # Where the video was when the pin appeared, in server time, from the index.
        show = next((tmp_path / "media" / ROOM).iterdir())
        lines = (show / "segments.jsonl").read_text().splitlines()
        segments = [json.loads(x) for x in lines if x]
        position = entry["position"]
        seg = next(s for s in segments if s["start"] <= position < s["start"] + s["duration"])
        shown = seg["program_time"] + position - seg["start"]
        assert abs(shown - pin["ts"] / 1000) <= 0.25, (shown, pin["ts"] / 1000)
        await studio.evaluate("window.livecart.broadcast.stop()")
        assert not errors, errors
