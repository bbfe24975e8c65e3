"""Real nodes and headless Chromium for the page tests.

Nothing is mocked: the nodes are the real app (``web.app.create_app``) on 127.0.0.1,
sharing the session's redis-server; Chromium is Debian's ``/usr/bin/chromium`` driven by
Playwright, with its fake camera and microphone. Every ``launch`` gets a fresh temporary
profile (Playwright creates and deletes one per browser).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from livecart.web.app import create_app
from livecart.web.config import Config
from tests.chromium import chromium, poll  # noqa: F401  (re-exported for the tests)
from tests.hubclient import ADMIN, Node

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
STUDIO = {"viewport": {"width": 1440, "height": 960}}


@asynccontextmanager
async def node(
    redis_url: str, data_dir: Path, *, port: int = 0, node_id: str = "pages"
) -> AsyncIterator[Node]:
    """A node that can be stopped and started again on the same port, with WebRTC on
    loopback (``ice_hosts``) and its recordings under ``data_dir``."""
    config = Config(
        redis_url=redis_url,
        admin_token=ADMIN,
        node_id=node_id,
        demo=False,
        ice_hosts=("127.0.0.1",),
        data_dir=data_dir,
        # Every page and client of these tests comes from 127.0.0.1: one address's chat
        # budget would be the crowd's (tests/node/test_connections.py tests the budget).
        address_chat_rate=0,
    )
    runner = web.AppRunner(
        create_app(config), handle_signals=False, access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Node(runner, runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def new_page(browser: Any, errors: list[str], **context: Any) -> Any:
    """A page in its own context (own storage), collecting page errors into ``errors``."""
    ctx = await browser.new_context(**context)
    ctx.set_default_timeout(10_000)
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return page


async def create_room(
    http: aiohttp.ClientSession, node: Node, room: str, title: str, host: str
) -> str:
    async with http.post(
        f"{node.url}/api/rooms",
        json={"id": room, "title": title, "host": host},
        headers={"Authorization": f"Bearer {ADMIN}"},
    ) as resp:
        assert resp.status == 201, await resp.text()
        token: str = (await resp.json())["host_token"]
        return token


async def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


async def go_live(studio: Any) -> None:
    """Press "Go live" in a studio page once the fake camera's preview runs, and wait for
    the WHIP session to connect."""
    await poll(studio, "window.livecart.broadcast.stream !== null", 10, "camera preview")
    await studio.click("#go-live")
    await poll(studio, "window.livecart.broadcast.state === 'live'", 20, "WHIP connected")
