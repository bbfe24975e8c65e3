"""Languages on the pages: a switch on the page changes every text in place and keeps
the state (the checkout in progress, a half-typed message, the product form), the
choice is remembered, and the host's room default applies to viewers who made none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from livecart.redis_process import RedisProcess
from tests.pages_fixtures.harness import PHONE, STUDIO, chromium, new_page, node, poll
from tests.pages_fixtures.shop import T, shop_room

READY = "window.livecart && window.livecart.conn.status === 'open'"
LANG = "document.documentElement.lang"


async def test_switching_language_keeps_the_state(
    redis_server: RedisProcess, redis_client: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        token, _ = await shop_room(http, n, "switch", "USD")
        viewer = await new_page(browser, errors, locale="en-US", **PHONE)
        await viewer.goto(f"{n.url}/live/switch")
        await poll(viewer, READY)
        await viewer.locator("#pinned .buy-btn").wait_for()
        assert await viewer.evaluate(LANG) == "en"
        await viewer.evaluate("window.__samePage = true")
        await viewer.fill("#chat-input", "a half-typed message")
        await viewer.click("#pinned .buy-btn")
        await viewer.click("#checkout-sheet .qty-btn[aria-label='One more']")
        pay = viewer.locator("#checkout-sheet .pay-btn")
        assert (await pay.inner_text()).strip() == T("en-US", "shop.pay", total="$198.00")

        await viewer.select_option("#lang-select", "zh-CN")
        await poll(viewer, f"{LANG} === 'zh-CN'")
        # Every text is Chinese now, the prices as Intl writes USD in Chinese...
        assert (await pay.inner_text()).strip() == T("zh-CN", "shop.pay", total="US$198.00")
        assert await viewer.text_content("#checkout-title") == T("zh-CN", "shop.checkout")
        assert "US$99.00" in await viewer.inner_text("#pinned")
        assert await viewer.get_attribute("#heart-btn", "aria-label") == T("zh-CN", "live.heart")
        assert await viewer.get_attribute("#chat-input", "placeholder") == T(
            "zh-CN", "live.say_something"
        )
        assert await viewer.text_content("#pinned .buy-btn") == T("zh-CN", "shop.buy")
        # ...and nothing else changed: same page, same socket, same purchase, same draft.
        assert await viewer.evaluate("window.__samePage") is True
        assert await viewer.evaluate("window.livecart.conn.status") == "open"
        assert await viewer.is_visible("#checkout-sheet")
        assert (await viewer.inner_text("#checkout-sheet .qty-value")).strip() == "2"
        assert await viewer.input_value("#chat-input") == "a half-typed message"

        # Remembered: a reload comes back in Chinese although the browser says en-US.
        assert await viewer.evaluate("localStorage.getItem('livecart:lang')") == "zh-CN"
        await viewer.reload()
        await poll(viewer, READY)
        assert await viewer.evaluate(LANG) == "zh-CN"
        await viewer.locator("#pinned .buy-btn", has_text=T("zh-CN", "shop.buy")).wait_for()

        # The studio switches in place too: the product form being filled stays.
        studio = await new_page(browser, errors, locale="en-US", **STUDIO)
        await studio.goto(f"{n.url}/studio/switch#token={token}")
        await poll(studio, READY)
        await studio.click("#add-product")
        await studio.fill("#product-form [name=name]", "Linen shirt")
        await studio.select_option("#lang-select", "zh-CN")
        await poll(studio, f"{LANG} === 'zh-CN'")
        assert await studio.input_value("#product-form [name=name]") == "Linen shirt"
        assert await studio.text_content("#product-form h3") == T("zh-CN", "lineup.new_title")
        assert (await studio.inner_text("#go-live")).strip() == T("zh-CN", "studio.go_live")
        assert "US$129.00" in await studio.inner_text("#lineup")
        # A refusal is said from its code in the page's language, naming the field.
        await studio.fill("#product-form [name=price]", "10")
        await studio.fill("#product-form [name=image_url]", "javascript:void(0)")
        await studio.click("#product-form button[type=submit]")
        refusal = T("zh-CN", "error.bad_args_field", field="image_url")
        await studio.locator("#product-form .form-error", has_text=refusal).wait_for()
        await studio.select_option("#lang-select", "en")
        await poll(studio, f"{LANG} === 'en'")
        assert (await studio.inner_text("#go-live")).strip() == T("en-US", "studio.go_live")
        for page in (viewer, studio):
            await page.context.close()
    assert errors == []


async def test_the_host_sets_the_rooms_default_language(
    redis_server: RedisProcess, redis_client: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        token, _ = await shop_room(http, n, "defaults", "CNY")
        # A viewer already watching, and one who picked English on the page.
        watching = await new_page(browser, errors, locale="en-US", **PHONE)
        await watching.goto(f"{n.url}/live/defaults")
        picked = await new_page(browser, errors, locale="en-US", **PHONE)
        await picked.goto(f"{n.url}/live/defaults")
        for page in (watching, picked):
            await poll(page, READY)
        await picked.select_option("#lang-select", "en")
        assert await watching.evaluate(LANG) == "en"

        studio = await new_page(browser, errors, locale="en-US", **STUDIO)
        await studio.goto(f"{n.url}/studio/defaults#token={token}")
        await poll(studio, READY)
        await studio.select_option("#room-lang", "zh-CN")
        await poll(studio, "window.livecart.model.room.lang === 'zh-CN'")
        async with http.get(f"{n.url}/api/rooms/defaults") as resp:
            assert (await resp.json())["room"]["lang"] == "zh-CN"
        assert await studio.evaluate(LANG) == "en"  # the host's own pages stay as chosen

        # The viewer who made no choice follows the room at once; the one who did, not.
        await poll(watching, f"{LANG} === 'zh-CN'")
        await watching.locator("#pinned .buy-btn", has_text=T("zh-CN", "shop.buy")).wait_for()
        assert await picked.evaluate(LANG) == "en"
        # A new viewer with an English browser gets the room's language.
        fresh = await new_page(browser, errors, locale="en-US", **PHONE)
        await fresh.goto(f"{n.url}/live/defaults")
        await poll(fresh, READY)
        await poll(fresh, f"{LANG} === 'zh-CN'")
        assert "¥99.00" in await fresh.inner_text("#pinned")

        # No default again: each browser decides.
        await studio.select_option("#room-lang", "")
        await poll(watching, f"{LANG} === 'en'")
        for page in (watching, picked, studio, fresh):
            await page.context.close()
    assert errors == []
