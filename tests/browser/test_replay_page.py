"""A scripted show in real Chromium (fake camera), then its replay page.

The host goes live from the studio; during the show the host pins product A, a viewer
chats, the host deletes one message, pins product B and opens a sale on it; then the
show ends. The replay page lists both chapters at the right times (within one
segment), seeking to B's chapter shows B pinned, the chat appears at its recorded
moments without the deleted message, a buy from the replay becomes an order
attributed to the replay, and the books balance.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from pathlib import Path
from typing import Any

import aiohttp

from livecart.redis_process import RedisProcess
from tests.hubclient import connect
from tests.pages_fixtures.harness import (
    PHONE,
    STUDIO,
    chromium,
    create_room,
    go_live,
    new_page,
    node,
    poll,
    screenshot,
)
from tests.pages_fixtures.shop import axe

ROOM = "replay-show"


async def _api(
    http: aiohttp.ClientSession, method: str, url: str, token: str, body: Any = None
) -> Any:
    async with http.request(
        method, url, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status in (200, 201), await resp.text()
        return await resp.json()


async def test_a_recorded_show_replays_and_sells(
    redis_server: RedisProcess, redis_client: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        token = await create_room(http, n, ROOM, "Night market", "Mia")
        base = f"{n.url}/api/rooms/{ROOM}"
        ids = {}
        for name, price in (("Teapot", 8800), ("Kettle", 4500)):
            body = {"name": name, "price": price, "currency": "CNY", "stock": 5}
            ids[name] = (await _api(http, "POST", f"{base}/products", token, body))["data"][
                "product"
            ]["id"]
        a, b = ids["Teapot"], ids["Kettle"]

        studio = await new_page(browser, errors, **STUDIO)
        await studio.goto(f"{n.url}/studio/{ROOM}#token={token}")
        await poll(studio, "window.livecart && window.livecart.conn.status === 'open'")
        await go_live(studio)
        started = time.time()
        viewer = await connect(http, n, ROOM, name="Ann")

        async def at(seconds: float) -> None:
            await asyncio.sleep(max(0.0, started + seconds - time.time()))

        await at(3.0)
        await _api(http, "POST", f"{base}/pin", token, {"product_id": a})
        pinned_a = time.time()
        await viewer.command("chat", text="is the teapot glazed?")
        said_a = time.time()
        await viewer.command("chat", text="oops wrong room")
        await viewer.wait_for(lambda c: any(e.get("text") == "oops wrong room" for e in c.events))
        gone = next(e["id"] for e in viewer.events if e.get("text") == "oops wrong room")
        await _api(http, "POST", f"{base}/commands", token, {"cmd": "delete", "message_id": gone})
        await at(8.0)
        await _api(http, "POST", f"{base}/pin", token, {"product_id": b})
        pinned_b = time.time()
        await viewer.command("chat", text="kettle looks great")
        sale = {"cmd": "open_sale", "product_id": b, "price": 3900, "currency": "CNY",
                "units": 3, "limit": 1}  # fmt: skip
        await _api(http, "POST", f"{base}/commands", token, sale)
        await at(12.0)
        await studio.evaluate("window.livecart.broadcast.stop()")
        await _api(http, "POST", f"{base}/end", token)
        await viewer.ws.close()

        # The recording is closed; the show is listed with its replay link.
        async def listed() -> list[dict[str, Any]]:
            async with http.get(f"{base}/shows") as r:
                return list((await r.json())["shows"])

        for _ in range(100):
            shows = await listed()
            if shows and shows[0]["ended_at"]:
                break
            await asyncio.sleep(0.1)
        assert shows and shows[0]["ended_at"], shows
        show = shows[0]["show"]

        page = await new_page(browser, errors, **PHONE)
        await page.goto(f"{n.url}{shows[0]['replay']}")
        await poll(page, "window.replay && window.replay.detail", 10, "the show's detail")
        await poll(page, "document.getElementById('video').currentTime > 0.5", 20, "replay plays")
        detail = await page.evaluate("window.replay.detail")
        first_program = await _first_program_time(http, n.url, ROOM, show)
        chapters = {c["product_id"]: c for c in detail["chapters"]}
        assert set(chapters) == {a, b}
        for pid, when in ((a, pinned_a), (b, pinned_b)):
            offset = chapters[pid]["at"] - detail["first"]
            assert abs(offset - (when - first_program)) <= 2.0, (pid, offset, when - first_program)

        # The lineup lists both chapters; tapping B's seeks there and B is pinned.
        await page.click("#bag-btn")
        jump = page.locator(f"li.chapter-row[data-product='{b}'] .chapter-jump")
        label = await jump.inner_text()
        assert ":" in label
        await screenshot(page, "replay-chapters")
        await jump.click()
        await poll(page, f"document.getElementById('pinned').dataset.product === '{b}'", 10)
        pos = await page.evaluate("document.getElementById('video').currentTime")
        assert pos >= chapters[b]["at"] - 0.1
        assert "Kettle" in await page.inner_text("#pinned")

        # Seek back before A's pin: chat replays at its moments; the deleted line never.
        await page.evaluate(f"document.getElementById('video').currentTime = {detail['first']}")
        await page.locator("#chat .msg", has_text="is the teapot glazed?").wait_for(timeout=20_000)
        shown_at = await page.evaluate(
            "Number([...document.querySelectorAll('#chat .msg')].find(m =>"
            " m.textContent.includes('teapot')).dataset.at)"
        )
        assert abs(shown_at - detail["first"] - (said_a - first_program)) <= 0.5
        await page.locator("#chat .msg", has_text="kettle looks great").wait_for(timeout=20_000)
        assert "oops wrong room" not in await page.inner_text("#chat")
        await screenshot(page, "replay-phone")

        # Buy B from the replay: list price (the live sale price does not come back).
        await page.click("#pinned-buy")
        await page.click("#pay-btn")
        await poll(
            page,
            "document.getElementById('order-done') ||"
            " document.getElementById('checkout-error').textContent",
            10,
            "the order",
        )
        assert await page.locator("#order-done").count(), await page.inner_text("#checkout-error")
        orders = (await _api(http, "GET", f"{base}/orders.json", token))["orders"]
        replayed = [o for o in orders if o["channel"] == "replay"]
        assert len(replayed) == 1 and replayed[0]["product_id"] == b
        assert replayed[0]["unit_price"] == 4500
        figures = await _api(http, "GET", f"{base}/figures", token)
        assert figures["replay"]["orders"] == 1 and figures["replay"]["views"] >= 1
        audit = await _api(http, "GET", f"{base}/audit", token)
        assert audit == {"ok": True, "problems": []}
        stock = figures["stock"][b]
        assert stock["initial"] == stock["available"] + stock["reserved"] + stock["sold"]
        assert await axe(page) == []

        # The host: the studio lists the past show with its replay link, views and the
        # replay orders; hiding a chapter takes it off the replay; the show list links it.
        await studio.evaluate("window.livecart.past.load()")
        row = studio.locator(f"li.past-show[data-show='{show}']")
        await row.wait_for()
        assert await row.locator("a").get_attribute("href") == f"/replay/{ROOM}/{show}"
        await poll(studio, "document.getElementById('replay-summary').textContent.includes('1')")
        await row.get_by_role("button", name="Chapters").click()
        chapter = row.locator(f"li[data-chapter='{a}:0']")
        await chapter.locator(".hide-chapter").click()
        await poll(
            studio,
            f"!!document.querySelector(\"li[data-chapter='{a}:0'] .hide-chapter\")"
            " && document.querySelector(\"li[data-chapter='" + a + ":0'] .hide-chapter\")"
            ".textContent === 'Show'",
        )
        async with http.get(f"{base}/shows/{show}") as r:
            assert [c["product_id"] for c in (await r.json())["chapters"]] == [b]
        listing = await new_page(browser, errors, **PHONE)
        await listing.goto(f"{n.url}/")
        link = listing.locator(f"li[data-room='{ROOM}'] a.replay-link")
        await link.wait_for()
        assert await link.get_attribute("href") == f"/replay/{ROOM}/{show}"
        assert not errors, errors


async def _first_program_time(http: aiohttp.ClientSession, url: str, room: str, show: str) -> float:
    async with http.get(f"{url}/hls/{room}/{show}/video.m3u8") as r:
        text = await r.text()
    line = next(x for x in text.splitlines() if x.startswith("#EXT-X-PROGRAM-DATE-TIME:"))
    value = line.split(":", 1)[1].replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(value).timestamp()
