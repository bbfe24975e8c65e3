"""The pages are usable without a mouse or sight.

axe-core (the copy inside the installed axe-playwright-python package) checks the show
list, the studio and the viewer room, with its sheets open, in both languages: no
serious or critical violation. The viewer room is then used by keyboard alone (a heart,
the lineup, a purchase), focus is visible, and with reduced motion nothing floats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livecart.redis_process import RedisProcess
from tests.pages_fixtures.harness import DESKTOP, PHONE, STUDIO, chromium, new_page, node, poll
from tests.pages_fixtures.shop import T, axe, shop_room

READY = "window.livecart && window.livecart.conn.status === 'open'"


async def audit(
    base: str, room: str, token: str, browser: Any, locale: str
) -> dict[str, list[str]]:
    """axe's serious and critical violations on every page and sheet, by view."""
    errors: list[str] = []
    found: dict[str, list[str]] = {}
    shows = await new_page(browser, errors, locale=locale, **DESKTOP)
    await shows.goto(f"{base}/")
    await shows.locator(f".show-card[data-room='{room}']").wait_for()
    found["shows"] = await axe(shows)

    studio = await new_page(browser, errors, locale=locale, **STUDIO)
    await studio.goto(f"{base}/studio/{room}#token={token}")
    await poll(studio, READY)
    await studio.locator("#sale .badge-open").wait_for()
    await studio.locator("li.lineup-item").first.wait_for()
    found["studio"] = await axe(studio)
    await studio.click("#add-product")
    await poll(studio, "document.getElementById('product-form').getAnimations().length === 0")
    found["studio product form"] = await axe(studio)

    viewer = await new_page(browser, errors, locale=locale, **PHONE)
    await viewer.goto(f"{base}/live/{room}")
    await poll(viewer, READY)
    await viewer.locator("#pinned .buy-btn").wait_for()
    found["viewer"] = await axe(viewer)
    await viewer.click("#bag-btn")
    await viewer.locator("#lineup-sheet .lineup-row").first.wait_for()
    found["viewer lineup"] = await axe(viewer)
    await viewer.keyboard.press("Escape")
    await viewer.click("#pinned .buy-btn")
    await viewer.locator("#checkout-sheet .pay-btn").wait_for()
    found["viewer checkout"] = await axe(viewer)
    await viewer.keyboard.press("Escape")
    await viewer.fill("#chat-input", "hello")
    await viewer.press("#chat-input", "Enter")
    await viewer.locator("#name-input").wait_for()
    found["viewer name"] = await axe(viewer)
    for page in (shows, studio, viewer):
        await page.context.close()
    assert errors == []
    return found


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_axe_finds_no_serious_or_critical_violations(
    redis_server: RedisProcess,
    redis_client: Any,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    locale: str,
) -> None:
    room = f"a11y-{locale.lower()}"
    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        token, _ = await shop_room(http, n, room, "CNY")
        found = await audit(n.url, room, token, browser, locale)
    assert {view: lines for view, lines in found.items() if lines} == {}


async def focused(page: Any) -> str:
    desc: str = await page.evaluate(
        "(() => { const e = document.activeElement;"
        " return e ? (e.id || e.className || e.tagName) : ''; })()"
    )
    return desc


async def tab_to(page: Any, selector: str, limit: int = 40) -> None:
    """Press Tab until ``selector`` has the focus."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def test_the_viewer_room_works_by_keyboard_alone(
    redis_server: RedisProcess, redis_client: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        token, ids = await shop_room(http, n, "keys", "USD")
        page = await new_page(browser, errors, locale="en-US", **PHONE)
        await page.goto(f"{n.url}/live/keys")
        await poll(page, READY)
        await page.locator("#pinned .buy-btn").wait_for()

        # Every control is reachable with Tab, and the focus ring shows.
        for selector in ("#lang-select", "#chat-input", "#send-btn", "#bag-btn", "#heart-btn"):
            await tab_to(page, selector)
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("none", "")
        # A heart by keyboard.
        await page.keyboard.press("Enter")
        await poll(page, "document.querySelector('#hearts-layer .float-heart') !== null", 5)

        # The lineup opens as a dialog with the focus inside; Escape closes it and gives
        # the focus back to the bag button.
        await page.focus("#bag-btn")
        await page.keyboard.press("Enter")
        await page.locator("#lineup-sheet .lineup-row").first.wait_for()
        await poll(page, "document.getElementById('lineup-sheet').contains(document.activeElement)")
        explain = f"#lineup-sheet .lineup-row[data-product='{ids['Ceramic mug']}'] .explain-btn"
        label = await page.get_attribute(explain, "aria-label")
        assert label and "Ceramic mug" in label
        await tab_to(page, explain)
        await page.keyboard.press("Enter")
        await page.locator(explain, has_text=T("en-US", "shop.asked", n=1)).wait_for()
        await page.keyboard.press("Escape")
        await poll(page, "document.activeElement.id === 'bag-btn'")

        # Buy by keyboard: the pinned Buy, then Pay; the order is said to screen readers.
        await tab_to(page, "#pinned .buy-btn")
        assert "Silk scarf" in (await page.get_attribute("#pinned .buy-btn", "aria-label") or "")
        await page.keyboard.press("Enter")
        await poll(
            page, "document.getElementById('checkout-sheet').contains(document.activeElement)"
        )
        assert await page.evaluate("document.activeElement.classList.contains('pay-btn')")
        await page.keyboard.press("Enter")
        order_id = (await page.locator("#order-id").inner_text(timeout=15_000)).strip()
        await poll(page, f"document.getElementById('announce').textContent.includes('{order_id}')")
        assert await page.get_attribute("#announce", "aria-live") == "assertive"
        await page.keyboard.press("Escape")
        # When the host ends the sale, screen readers hear it at once.
        close = {"cmd": "close_sale", "product_id": ids["Silk scarf"]}
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(f"{n.url}/api/rooms/keys/commands", headers=auth, json=close) as r:
            assert r.status == 200, await r.text()
        said = T("en-US", "shop.say_closed", product="Silk scarf")
        await poll(page, f"document.getElementById('announce').textContent === {said!r}")
        await page.context.close()
    assert errors == []


async def test_reduced_motion_keeps_hearts_and_toasts_still(
    redis_server: RedisProcess, redis_client: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        await shop_room(http, n, "still", "USD")
        page = await new_page(browser, errors, reduced_motion="reduce", **PHONE)
        await page.goto(f"{n.url}/live/still")
        await poll(page, READY)
        await page.click("#heart-btn")
        await page.click("#heart-btn")
        await poll(page, "Number(document.getElementById('heart-btn').dataset.pulses) >= 2", 5)
        assert await page.evaluate("document.querySelectorAll('.float-heart').length") == 0
        await page.evaluate("window.livecart.shop.notify('hello', 'ok')")
        toast = page.locator("#toasts .toast", has_text="hello")
        await toast.wait_for()
        duration = await toast.evaluate("e => getComputedStyle(e).animationDuration")
        assert duration in ("0s", "1e-05s") or float(duration.rstrip("s")) < 0.01
        await page.context.close()
    assert errors == []
