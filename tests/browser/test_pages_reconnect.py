"""The viewer page survives its node going away and resumes without a reload.

Two nodes share Redis. The viewer watches through node A; node A stops (its sockets
close), the page says it is retrying, another viewer keeps chatting through node B, and
node A starts again on the same port. The page reconnects by itself, resumes from its
last event and shows every message sent meanwhile, once.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp

from livecart.redis_process import RedisProcess
from tests.hubclient import connect
from tests.pages_fixtures.harness import PHONE, chromium, create_room, new_page, node, poll

ROOM = "comeback"
MISSED = ["are you still there?", "the host is showing the mug now", "back in stock!"]


async def test_viewer_resumes_after_node_restart(
    redis_server: RedisProcess, redis_client: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with (
        node(redis_server.url, tmp_path, node_id="node-b") as b,
        chromium() as browser,
        AsyncExitStack() as stack,
    ):
        a = await stack.enter_async_context(node(redis_server.url, tmp_path, node_id="node-a"))
        port = a.port
        await create_room(http, b, ROOM, "Comeback show", "Mia")
        page = await new_page(browser, errors, **PHONE)
        await page.goto(f"{a.url}/live/{ROOM}")
        await poll(page, "window.livecart && window.livecart.conn.status === 'open'")
        await page.evaluate("window.__samePage = true")

        other = await connect(http, b, ROOM, name="Zoe")
        assert (await other.command("chat", text="hello before"))["ok"]
        await page.locator("#chat .msg", has_text="hello before").wait_for()

        # Node A goes away: the page tells the viewer it is retrying.
        await stack.aclose()
        await poll(page, "!document.getElementById('conn-banner').hidden", 10, "retry banner")
        assert "retrying" in (await page.inner_text("#conn-banner")).lower()
        for text in MISSED:
            await asyncio.sleep(1.0)  # a viewer's chat budget: about one message a second
            reply = await other.command("chat", text=text)
            assert reply["ok"], reply

        # Node A is back on the same port: the page resumes by itself.
        async with node(redis_server.url, tmp_path, port=port, node_id="node-a"):
            for text in MISSED:
                await page.locator("#chat .msg", has_text=text).wait_for(timeout=15_000)
            await poll(page, "document.getElementById('conn-banner').hidden", 5, "banner gone")
            assert await page.evaluate("window.__samePage") is True
            shown = await page.eval_on_selector_all(
                "#chat .msg-text", "els => els.map(e => e.textContent)"
            )
            assert shown == ["hello before", *MISSED]
            await page.context.close()
        await other.ws.close()
    assert errors == []
