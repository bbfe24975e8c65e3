"""One scripted show in real headless Chromium: host studio, two viewers, a sale, an order.

The host goes live with Chromium's fake camera over WHIP, builds the lineup, pins a
product and opens a flash sale; a phone-sized and a desktop viewer watch the video,
chat with each other, ask for an explanation and buy; the host sees the request and the
order, ends the show and downloads the orders as CSV. The tests also write the
screenshots in docs/screenshots/.

The show runs twice: with the browsers set to en-US (prices in USD) and to zh-CN
(prices in CNY). Each checks the pages' strings by catalogue key in its language, the
prices as Intl formats them, and that the server's CSV stays English.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livecart.checkout.orders import CSV_COLUMNS
from livecart.redis_process import RedisProcess
from tests.pages_fixtures.harness import (
    DESKTOP,
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
from tests.pages_fixtures.shop import T

ROOM = "friday-deals"
# Per browser locale: the products' currency, how Intl writes the sale price, the
# screenshots' suffix.
SHOWS = {
    "en-US": {"currency": "USD", "sale": "$99.00", "list": "$129.00", "shots": ""},
    "zh-CN": {"currency": "CNY", "sale": "¥99.00", "list": "¥129.00", "shots": "-zh"},
}


async def add_product(
    studio: Any, name: str, price: str, image: str, stock: str, currency: str = "USD"
) -> None:
    await studio.click("#add-product")
    form = studio.locator("#product-form")
    await form.locator("[name=name]").fill(name)
    await form.locator("[name=price]").fill(price)
    await form.locator("[name=currency]").select_option(currency)
    await form.locator("[name=image_url]").fill(image)
    await form.locator("[name=stock]").fill(stock)
    await form.locator("button[type=submit]").click()
    await studio.locator("li.lineup-item", has_text=name).wait_for()


async def video_plays(page: Any) -> None:
    await poll(page, "document.getElementById('app').dataset.state === 'playing'", 25, "video")
    t1 = await page.evaluate("document.getElementById('video').currentTime")
    await asyncio.sleep(0.8)
    t2 = await page.evaluate("document.getElementById('video').currentTime")
    assert t2 > t1, "currentTime must advance"


async def chat(page: Any, text: str, name: str | None = None) -> None:
    await page.fill("#chat-input", text)
    await page.press("#chat-input", "Enter")
    if name is not None:  # the first message asks for a chat name
        await page.fill("#name-input", name)
        await page.press("#name-input", "Enter")
    await page.locator("#chat .msg", has_text=text).wait_for(timeout=10_000)


@pytest.mark.parametrize("locale", list(SHOWS))
async def test_scripted_show(
    redis_server: RedisProcess,
    redis_client: Any,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    locale: str,
) -> None:
    errors: list[str] = []
    show = SHOWS[locale]
    currency = show["currency"]

    def t(key: str, **params: Any) -> str:
        return T(locale, key, **params)

    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        token = await create_room(http, n, ROOM, "Friday night deals", "Mia")

        # The host opens the studio; the token leaves the address bar.
        studio = await new_page(browser, errors, locale=locale, **STUDIO)
        await studio.goto(f"{n.url}/studio/{ROOM}#token={token}")
        await poll(studio, "window.livecart && window.livecart.conn.status === 'open'")
        assert await studio.evaluate("location.hash") == ""
        assert await studio.evaluate(f"sessionStorage.getItem('livecart:host:{ROOM}')") == token
        # The studio speaks the browser's language.
        lang = "en" if locale == "en-US" else "zh-CN"
        assert await studio.evaluate("document.documentElement.lang") == lang
        assert (await studio.inner_text("#go-live")).strip() == t("studio.go_live")
        assert t("sale.pin_first") in await studio.inner_text("#sale")

        scarf_img, mug_img = "/static/img/sample-scarf.svg", "/static/img/sample-mug.svg"
        await add_product(studio, "Silk scarf", "129.00", scarf_img, "40", currency)
        await add_product(studio, "Ceramic mug", "24.50", mug_img, "25", currency)
        assert show["list"] in await studio.inner_text("#lineup")
        products = await studio.evaluate(
            "Object.fromEntries(Object.values(window.livecart.model.products)"
            ".map(p => [p.name, p.id]))"
        )
        scarf, mug = products["Silk scarf"], products["Ceramic mug"]
        await studio.locator("li.lineup-item", has_text="Silk scarf").locator(".pin-btn").click()
        await poll(studio, f"window.livecart.model.pinned === '{scarf}'")

        # Go live with the fake camera, then open a sale on the pinned scarf.
        await go_live(studio)
        await studio.fill("#sale-price", "99.00")
        await studio.fill("#sale-units", "10")
        await studio.fill("#sale-limit", "2")
        await studio.click("#open-sale")
        await studio.locator("#sale .badge-open").wait_for()

        # Two viewers: a phone and a desktop.
        phone = await new_page(browser, errors, locale=locale, **PHONE)
        desk = await new_page(browser, errors, locale=locale, **DESKTOP)
        await phone.goto(f"{n.url}/live/{ROOM}")
        await desk.goto(f"{n.url}/live/{ROOM}")
        await asyncio.gather(video_plays(phone), video_plays(desk))
        for page in (phone, desk):
            await page.locator("#pinned", has_text="Silk scarf").wait_for()
            pinned = await page.inner_text("#pinned")
            assert show["sale"] in pinned and show["list"] in pinned
            assert t("shop.left", n=10) in pinned
            assert (await page.inner_text("#pinned .buy-btn")).strip() == t("shop.buy")
            assert await page.get_attribute("#chat-input", "placeholder") == t("live.say_something")
            assert await page.text_content("#topbar .badge") == t("status.live")

        # The host greets; viewers see the line with the host's name and badge.
        await studio.fill("#host-chat-input", "Welcome! 20% off the scarf right now")
        await studio.press("#host-chat-input", "Enter")
        greeting = phone.locator("#chat .msg.host", has_text="20% off")
        assert "Mia" in await greeting.inner_text()

        # They chat with each other.
        await chat(phone, "Does the scarf come in blue?", name="Ana")
        await desk.locator("#chat .msg", has_text="Does the scarf come in blue?").wait_for()
        await chat(desk, "I have the red one, it's lovely", name="Ben")
        await phone.locator("#chat .msg", has_text="it's lovely").wait_for()
        assert "Ana" in await desk.locator("#chat .msg", has_text="blue").inner_text()

        # The phone asks the host to explain the mug; the host sees it ranked.
        await phone.click("#bag-btn")
        row = phone.locator(f"#lineup-sheet .lineup-row[data-product='{mug}']")
        await row.locator(".explain-btn").click()
        await row.locator(".explain-btn", has_text=t("shop.asked", n=1)).wait_for()
        await studio.locator(f"#queue .queue-item[data-product='{mug}']").wait_for(timeout=10_000)
        assert t("queue.requests", n=1) in await studio.inner_text("#queue")
        await phone.keyboard.press("Escape")

        # The desktop viewer buys with the sandbox card.
        await desk.click("#pinned .buy-btn")
        card = await desk.input_value("#card-number")
        assert card.replace(" ", "") == "4242424242424242"
        sheet = await desk.inner_text("#checkout-sheet")
        assert t("shop.sandbox") in sheet
        assert t("shop.pay", total=show["sale"]) in sheet
        await desk.click("#checkout-sheet .pay-btn")
        order_id = (await desk.locator("#order-id").inner_text(timeout=15_000)).strip()
        assert order_id.startswith("o_")
        assert t("shop.order_placed") in await desk.inner_text("#checkout-sheet")

        # The phone sees the units drop and a toast with the buyer's masked name.
        # (Watched together: the toast lasts 4 s and may come before the stock.)
        bought = t("live.bought", name="B***n", product="Silk scarf")
        await asyncio.gather(
            phone.locator("#pinned", has_text=t("shop.left", n=9)).wait_for(timeout=15_000),
            phone.locator("#toasts .toast.bought", has_text=bought).wait_for(timeout=15_000),
        )
        # Hearts float up on the phone and add up in the host's figures.
        for _ in range(3):
            await phone.click("#heart-btn")
        await poll(studio, "Number(document.getElementById('fig-hearts').textContent) >= 3", 10)
        await phone.evaluate("document.activeElement.blur()")
        await screenshot(phone, f"viewer-phone{show['shots']}")
        await desk.keyboard.press("Escape")
        await desk.locator("#chat .msg", has_text="lovely").wait_for()
        await screenshot(desk, f"viewer-desktop{show['shots']}")

        # The host sees the order in the figures.
        await studio.locator(f".order-row[data-order='{order_id}']").wait_for(timeout=10_000)
        assert (await studio.inner_text("#fig-orders")).strip() == "1"
        assert show["sale"] in await studio.inner_text("#fig-revenue")
        assert t("fig.units_sold", n=1) in await studio.inner_text("#figures")
        await asyncio.sleep(0.4)  # let the new order row finish fading in
        await screenshot(studio, f"studio{show['shots']}")

        await create_room(http, n, "sunday-kitchen", "Sunday kitchen haul", "Leo")
        await create_room(http, n, "denim-drop", "Vintage denim drop", "Ama")
        shows = await new_page(browser, errors, locale=locale, **DESKTOP)
        await shows.goto(f"{n.url}/")
        live_card = shows.locator(f".show-card[data-room='{ROOM}']", has_text=t("status.live"))
        await live_card.wait_for()
        upcoming = t("status.upcoming")
        await shows.locator(".show-card[data-room='denim-drop']", has_text=upcoming).wait_for()
        assert (await shows.inner_text("h1")).strip() == t("shows.hero_title")
        await screenshot(shows, f"shows{show['shots']}")

        # Moderation is one click: delete Ben's message, mute Ana.
        await studio.locator(".desk-msg", has_text="it's lovely").locator(".delete-btn").click()
        await phone.locator("#chat .msg", has_text="it's lovely").wait_for(state="detached")
        await studio.locator(".desk-msg", has_text="blue").locator(".mute-btn").click()
        await poll(phone, "document.getElementById('chat-input').disabled", 10, "muted")
        await studio.locator(".chip-unmute", has_text="Ana").wait_for()

        # End the show and download the CSV.
        await studio.click("#end-show")
        await studio.click("#confirm-ok")
        await studio.locator("#end-card", has_text=t("studio.show_ended")).wait_for(timeout=15_000)
        await poll(phone, "document.getElementById('app').dataset.state === 'ended'", 10)
        async with studio.expect_download() as download_info:
            await studio.click("#download-csv")
        download = await download_info.value
        csv_path = tmp_path / "orders.csv"
        await download.save_as(csv_path)
        csv_text = await asyncio.to_thread(csv_path.read_text)
        assert download.suggested_filename == f"{ROOM}-orders.csv"
        assert order_id in csv_text and "Ben" in csv_text
        # The CSV is for machines: its headers stay English whatever the page's language.
        assert csv_text.splitlines()[0] == ",".join(CSV_COLUMNS)
        assert t("studio.webhook_none") in await studio.inner_text("#webhook-status")
        for page in (studio, phone, desk, shows):
            await page.context.close()
    assert errors == []
