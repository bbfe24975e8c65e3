"""A real streamer server on a random localhost port, and headless Chromium.

Shared by the streamer tests. Nothing is mocked: aiohttp serves
``setup_streamer`` on 127.0.0.1, ICE runs over loopback (``ice_hosts``), and
Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from livecart.streamer.app import STREAMER, setup_streamer
from livecart.streamer.service import StreamerService
from tests.chromium import chromium  # noqa: F401  (re-exported for the tests)

TOKEN = "host-secret"

PUBLISH_PAGE = """<!doctype html><meta charset="utf-8"><title>publish</title>
<script type="module">
import { WhipPublisher } from "/static/streamer/whip.js";
window.whip = { state: "starting" };
try {
  const media = await navigator.mediaDevices.getUserMedia(
    { video: { width: 640, height: 360, frameRate: 30 }, audio: true });
  const pub = new WhipPublisher("/whip/ROOM", { token: "TOKEN" });
  pub.addEventListener("state", (e) => { window.whip.state = e.detail; });
  window.whip.publisher = pub;
  await pub.start(media);
  window.whip.location = pub.location;
} catch (err) {
  window.whip.state = "error";
  window.whip.error = String(err);
}
</script>"""

PLAY_PAGE = """<!doctype html><meta charset="utf-8"><title>play</title>
<video id="v" muted playsinline></video>
<script type="module">
import { LivePlayer } from "/static/streamer/player.js";
const video = document.getElementById("v");
window.player = new LivePlayer(video, "/ws/video/ROOM");
window.player.start();
</script>"""


@dataclass
class Server:
    """A running test server."""

    url: str
    app: web.Application
    data_dir: Path
    live_events: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def service(self) -> StreamerService:
        return self.app[STREAMER]


@asynccontextmanager
async def running_server(data_dir: Path, room: str = "room1") -> AsyncIterator[Server]:
    """Serve ``setup_streamer`` plus two test pages on 127.0.0.1:<random>."""
    app = web.Application()
    events: list[tuple[str, bool]] = []

    async def authorize(r: str, token: str) -> bool:
        return token == TOKEN

    async def on_live(r: str, live: bool) -> None:
        events.append((r, live))

    setup_streamer(
        app, authorize=authorize, on_live=on_live, data_dir=data_dir, ice_hosts=["127.0.0.1"]
    )

    async def publish_page(request: web.Request) -> web.Response:
        html = PUBLISH_PAGE.replace("ROOM", request.match_info["room"]).replace("TOKEN", TOKEN)
        return web.Response(text=html, content_type="text/html")

    async def play_page(request: web.Request) -> web.Response:
        html = PLAY_PAGE.replace("ROOM", request.match_info["room"])
        return web.Response(text=html, content_type="text/html")

    app.router.add_get("/test/publish/{room}", publish_page)
    app.router.add_get("/test/play/{room}", play_page)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server = Server(f"http://127.0.0.1:{port}", app, data_dir, events)
    try:
        yield server
    finally:
        await runner.cleanup()


async def wait_for(
    predicate: Callable[[], bool], within: float, what: str, step: float = 0.1
) -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(step)
