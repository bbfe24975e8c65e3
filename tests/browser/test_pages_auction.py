"""A live auction and a giveaway in real headless Chromium: the host's studio and two
viewer pages on one real node.

The host starts an auction from the studio form and cancels it before any bid, then
starts another (10 s, counter-bid time 4 s). One viewer bids with one tap; when less
than the counter-bid time is left the other sets a max bid, which resets the timer (the
end moves later, the studio counts a reset) and outbids the first, who is told so. The
second viewer wins: their page shows the order, the studio shows the sale and the order
is in the show's export. Then a giveaway for chatters: the viewer who chatted wins, and
the studio shows the revealed seed, which hashes to the commitment shown at the start.
Both pages pass axe with the panels open.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import aiohttp

from livecart.redis_process import RedisProcess
from tests.hubclient import ADMIN
from tests.pages_fixtures.harness import (
    DESKTOP,
    PHONE,
    STUDIO,
    chromium,
    create_room,
    new_page,
    node,
    poll,
)
from tests.pages_fixtures.shop import T, axe

ROOM = "auction-night"
READY = "window.livecart && window.livecart.conn.status === 'open'"
LEFT = "(a => a.ends_at - window.livecart.model.serverNow(window.livecart.conn.clockOffset))"


async def host(http: aiohttp.ClientSession, base: str, token: str, **cmd: Any) -> Any:
    async with http.post(
        f"{base}/api/rooms/{ROOM}/commands", json=cmd, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["data"]


async def test_auction_and_giveaway_in_the_pages(
    redis_server: RedisProcess, redis_client: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    errors: list[str] = []
    found: dict[str, list[str]] = {}
    en = "en-US"
    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        token = await create_room(http, n, ROOM, "Auction night", "Mia")
        await host(http, n.url, token, cmd="status", status="live")
        card = await host(
            http, n.url, token, cmd="add_product", name="Vintage card", price=1000,
            currency="USD", stock=3,
        )  # fmt: skip
        pid = card["product"]["id"]

        # Reduced motion: axe reads the colours of rows that would still be fading in.
        studio = await new_page(browser, errors, locale=en, reduced_motion="reduce", **STUDIO)
        await studio.goto(f"{n.url}/studio/{ROOM}#token={token}")
        await poll(studio, READY)
        one = await new_page(browser, errors, locale=en, **PHONE)
        two = await new_page(browser, errors, locale=en, **DESKTOP)
        for page in (one, two):
            await page.goto(f"{n.url}/live/{ROOM}")
            await poll(page, READY)

        # Start, then cancel before the first bid: the unit goes back.
        form = studio.locator("#auction-form")
        await form.locator("#auction-product").select_option(pid)
        await studio.fill("#auction-start", "10.00")
        await studio.fill("#auction-duration", "30")
        await studio.click("#start-auction")
        await studio.locator("#cancel-auction").wait_for()
        await one.locator("#auction-panel #bid-next").wait_for()
        await studio.click("#cancel-auction")
        await studio.locator(
            "#auction-result", has_text=T(en, "auction.result_cancelled")
        ).wait_for()
        await one.locator("#auction-panel").wait_for(state="hidden")  # a cancelled one goes

        # The real one: 10 s, counter-bid time 4 s.
        await studio.fill("#auction-start", "10.00")
        await studio.fill("#auction-duration", "10")
        await studio.fill("#auction-counter", "4")
        await studio.click("#start-auction")
        await one.locator("#bid-next", has_text="$10.00").wait_for()
        assert "$10.00" in await two.inner_text("#auction-next")
        found["studio auction"] = await axe(studio)
        found["viewer auction"] = await axe(one)
        await two.fill("#max-bid", "25.00")  # typed now, sent later
        await one.click("#bid-next")  # one tap: exactly the next bid, with > 4 s left
        await one.locator("#auction-leading").wait_for()
        await two.locator("#auction-leader", has_text="G").wait_for()  # masked, not "You"
        # The panel redrew for the bid; what the other viewer typed and the focus stayed.
        assert await two.input_value("#max-bid") == "25.00"
        assert await two.evaluate("document.activeElement.id") == "max-bid"
        assert "$11.00" in await two.inner_text("#auction-next")
        assert await studio.evaluate("window.livecart.model.auction.resets") == 0

        # Inside the counter-bid time: a max bid by keyboard resets the timer.
        await poll(two, f"{LEFT}(window.livecart.model.auction) < 3500", 10, "late")
        before = await two.evaluate("window.livecart.model.auction.ends_at")
        await two.keyboard.press("Enter")
        await two.locator("#auction-leading").wait_for()
        await one.locator("#auction-outbid").wait_for()
        after = await one.evaluate("window.livecart.model.auction")
        assert after["resets"] == 1 and after["ends_at"] > before
        assert after["price"] == 1100  # one increment over the other's max
        await studio.locator("#auction-desk-resets", has_text="1").wait_for()
        left = await one.evaluate(f"{LEFT}(window.livecart.model.auction)")
        assert 2500 < left <= 4100, left  # the page's clock agrees with Redis'

        # The end: the second viewer won and sees the order; the studio sees the sale.
        await two.locator("#auction-won #auction-order", has_text="o_").wait_for(timeout=15_000)
        order = (await two.inner_text("#auction-order")).split()[-1]
        await studio.locator("#auction-result", has_text=order).wait_for()
        await one.locator("#auction-panel", has_text=T(en, "auction.state_sold")).wait_for()
        async with http.get(
            f"{n.url}/api/rooms/{ROOM}/orders.json", headers={"Authorization": f"Bearer {ADMIN}"}
        ) as resp:
            orders = (await resp.json())["orders"]
        assert [(o["id"], o["amount"]) for o in orders] == [(order, 1100)]

        # A giveaway for chatters: only the first viewer chats, so they win.
        await studio.locator("#giveaway-rule-select").select_option("chatted")
        await studio.fill("#giveaway-duration", "5")
        await studio.click("#start-giveaway")
        await studio.locator("#giveaway-commitment").wait_for()
        commitment = await studio.evaluate("window.livecart.model.giveaway.commitment")
        await one.locator("#giveaway-entry", has_text=T(en, "giveaway.enter_chat")).wait_for()
        await one.fill("#chat-input", "count me in")
        await one.press("#chat-input", "Enter")
        await one.fill("#name-input", "Ann")
        await one.press("#name-input", "Enter")
        await one.locator("#giveaway-entry", has_text=T(en, "giveaway.in_chatted")).wait_for()
        found["viewer giveaway"] = await axe(one)
        await one.locator("#giveaway-winner", has_text=T(en, "giveaway.you_won")).wait_for(
            timeout=15_000
        )
        await two.locator("#giveaway-entry", has_text=T(en, "giveaway.was_out")).wait_for()
        await studio.locator("#giveaway-desk-seed").wait_for()
        seed = await studio.evaluate("window.livecart.model.giveaway.seed")
        assert hashlib.sha256(seed.encode()).hexdigest() == commitment
        found["studio giveaway"] = await axe(studio)
    assert errors == []
    assert {view: v for view, v in found.items() if v} == {}
