"""Everything fits: no control pushed off the screen, no text cut, at phone and laptop
widths, in English and Chinese.

The pages are the viewer room (live, a chat name set and the message box in use, a
pinned product with a long name, its sale open and then closed, the lineup drawer
open), the studio (revenue of CN¥12,345.67, a lineup of long names, the sale open and
then closed), ``/api/docs`` and the show list, each at 360, 390 and 1366 px wide. One
browser, one page per view, resized between widths.

What fails, found by walking the DOM (``FIT`` below), not from a list of elements:

- a visible interactive control (``button``, ``a``, ``input``, ``select``,
  ``textarea``, ``[role=button]``) that lies, even in part, left or right of the
  viewport. A control inside a box that scrolls sideways (a code block) counts where
  that box is: scrolling it reaches the control.
- in the page's header, the viewer's pinned card, message box and lineup, the studio's
  lineup, sale and figures cards, the API page and the show list (``AREAS``: where to
  look; the walk finds the elements), a visible element whose ``scrollWidth`` is larger
  than its ``clientWidth``: text cut off or ended with an ellipsis, or content spilling
  out of its box. Left out, by rule: elements made to scroll (``overflow-x`` auto or
  scroll: the chat log, a schema's code block), text fields (their text scrolls inside
  them) and visually hidden ones (a box of 1 px or less: text for screen readers).

The test also checks that closing a sale takes its units out of the counts: the viewer's
card says the sale ended, the studio's "units left" counts open sales only.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livecart.redis_process import RedisProcess
from tests.hubclient import Node, connect
from tests.pages_fixtures.harness import chromium, create_room, new_page, node, poll
from tests.pages_fixtures.shop import T

WIDTHS = (360, 390, 1366)
HEIGHT = {360: 740, 390: 844, 1366: 768}
READY = "window.livecart && window.livecart.conn.status === 'open'"
SHEET_STILL = "document.getElementById('lineup-sheet').getAnimations().length === 0"
CARD_OK = "4242424242424242"

# A lineup as shops name things: long, with sizes, and one in Chinese.
SCARF = "Hand-rolled mulberry silk scarf with a peony print, 90 × 90 cm"
LINEUP = (
    (SCARF, 12900),
    ("Ceramic pour-over coffee set with two cups and a bamboo tray", 26800),
    ("手工编织亚麻托特包（原色，带内袋）大号", 5900),
    ("Hand-knotted wool rug", 1234567),
)
RUG = "Hand-knotted wool rug"

# Where cut text would hurt, by page (the walk looks at every element inside).
AREAS = {
    "viewer": "#topbar, #pinned, .composer-wrap, #lineup-sheet",
    "studio": ".studio-bar, #lineup, #sale, #figures",
    "api": ".site-bar, .api",
    "shows": ".site-bar, .shows",
}

FIT = """(areas) => {
  const vw = document.documentElement.clientWidth;
  const found = [];
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 &&
      el.checkVisibility({ opacityProperty: true, visibilityProperty: true });
  };
  const label = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    for (const c of el.classList) s += "." + c;
    const text = (el.getAttribute("aria-label") || el.textContent || el.value || "")
      .replace(/\\s+/g, " ").trim().slice(0, 40);
    return text ? `${s} "${text}"` : s;
  };
  const scrollsX = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const controls = "button, a[href], input:not([type=hidden]), select, textarea, [role=button]";
  for (const el of document.querySelectorAll(controls)) {
    if (!shown(el)) continue;
    let box = el.getBoundingClientRect();
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (scrollsX(p) && p.scrollWidth > p.clientWidth) {
        box = p.getBoundingClientRect();
        break;
      }
    }
    if (box.left < -0.5 || box.right > vw + 0.5) {
      const x = `${Math.round(box.left)}–${Math.round(box.right)}`;
      found.push(`off screen: ${label(el)} at x ${x} of ${vw}`);
    }
  }
  const seen = new Set();
  for (const root of document.querySelectorAll(areas)) {
    for (const el of [root, ...root.querySelectorAll("*")]) {
      if (seen.has(el) || !shown(el)) continue;
      seen.add(el);
      if (el.matches("input, textarea") || scrollsX(el)) continue;
      if (el.scrollWidth > el.clientWidth) {
        found.push(`cut: ${label(el)} (${el.scrollWidth} px of content in ${el.clientWidth})`);
      }
    }
  }
  return found;
}"""


async def fits(page: Any, area: str, where: str) -> list[str]:
    """What does not fit on ``page`` now, each line prefixed with ``where``."""
    lines: list[str] = await page.evaluate(FIT, AREAS[area])
    return [f"{where}: {line}" for line in lines]


async def resize(page: Any, width: int) -> None:
    await page.set_viewport_size({"width": width, "height": HEIGHT[width]})
    # two frames: layout and the resize observers of the page have run
    await page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


async def post(http: aiohttp.ClientSession, url: str, token: str, body: dict[str, Any]) -> Any:
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status in (200, 201), await resp.text()
        return (await resp.json())["data"]


async def shop(http: aiohttp.ClientSession, n: Node, room: str) -> tuple[str, dict[str, str]]:
    """A live room selling in CNY: the long-named lineup, one rug sold for 12,345.67
    (its sale closed), the scarf pinned with its sale open. Returns the host token and
    the product ids by name."""
    token = await create_room(http, n, room, "Friday night deals", "Mia")
    api = f"{n.url}/api/rooms/{room}"
    ids: dict[str, str] = {}
    for name, price in LINEUP:
        body = {"name": name, "price": price, "currency": "CNY", "stock": 20,
                "image_url": "/static/img/sample-scarf.svg"}  # fmt: skip
        ids[name] = (await post(http, f"{api}/products", token, body))["product"]["id"]

    async def command(cmd: str, **args: Any) -> None:
        await post(http, f"{api}/commands", token, {"cmd": cmd, **args})

    await command("status", status="live")
    await command("pin", product_id=ids[RUG])
    await command("open_sale", product_id=ids[RUG], price=1234567, currency="CNY", units=5, limit=1)
    buyer = await connect(http, n, room, name="Lin")
    held = await buyer.command("buy", product_id=ids[RUG], qty=1, key=secrets.token_hex(8))
    rid = held["data"]["reservation"]["id"]
    paid = await buyer.command("pay", reservation_id=rid, card=CARD_OK, key=secrets.token_hex(8))
    assert paid["ok"], paid
    await buyer.ws.close()
    await command("close_sale", product_id=ids[RUG])
    await command("pin", product_id=ids[SCARF])
    await command("open_sale", product_id=ids[SCARF], price=9900, currency="CNY", units=10, limit=2)
    return token, ids


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_everything_fits(
    redis_server: RedisProcess,
    redis_client: Any,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    locale: str,
) -> None:
    errors: list[str] = []
    problems: list[str] = []
    room = f"fit-{locale.lower()}"
    lang = "en" if locale == "en-US" else "zh-CN"
    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        token, ids = await shop(http, n, room)

        viewer = await new_page(browser, errors, locale=locale, reduced_motion="reduce")
        await viewer.add_init_script("localStorage.setItem('livecart:name', 'Ana')")
        await viewer.goto(f"{n.url}/live/{room}")
        await poll(viewer, READY)
        await viewer.locator("#pinned .buy-btn:enabled").wait_for()
        studio = await new_page(browser, errors, locale=locale, reduced_motion="reduce")
        await studio.goto(f"{n.url}/studio/{room}#token={token}")
        await poll(studio, READY)
        await studio.locator("#sale .badge-open").wait_for()
        revenue = "CN¥12,345.67" if lang == "en" else "¥12,345.67"
        await studio.locator("#fig-revenue", has_text=revenue).wait_for()
        # Units left in open sales: the scarf's 10, not the closed rug sale's 4 too.
        await poll(studio, "document.getElementById('fig-units').textContent === '10'")

        async def check_viewer(state: str, width: int) -> None:
            where = f"viewer {width}px {lang}, sale {state}"
            await resize(viewer, width)
            # The message box in use: the send button shows next to bag and heart.
            await viewer.fill("#chat-input", "Does it come in blue?")
            await viewer.focus("#chat-input")
            assert await viewer.is_visible("#send-btn")
            problems.extend(await fits(viewer, "viewer", where))
            await viewer.click("#bag-btn")
            await viewer.locator("#lineup-sheet .lineup-row").nth(len(LINEUP) - 1).wait_for()
            await poll(viewer, SHEET_STILL)
            problems.extend(await fits(viewer, "viewer", f"{where}, lineup open"))
            await viewer.keyboard.press("Escape")
            await viewer.locator("#lineup-sheet").wait_for(state="hidden")

        async def check_studio(state: str, width: int) -> None:
            await resize(studio, width)
            problems.extend(await fits(studio, "studio", f"studio {width}px {lang}, sale {state}"))

        for width in WIDTHS:
            await check_viewer("open", width)
            await check_studio("open", width)

        # The sale closes: the viewer's card says so and no longer counts units left.
        await post(http, f"{n.url}/api/rooms/{room}/commands", token,
                   {"cmd": "close_sale", "product_id": ids[SCARF]})  # fmt: skip
        await viewer.locator("#pinned[data-sale='closed']").wait_for()
        await studio.locator("#sale .badge-ended").wait_for()
        note = await viewer.inner_text("#pinned .pin-note")
        assert note == T(locale, "shop.ended"), note
        units = studio.locator("#figures .tile-units .tile-sub")
        await units.filter(has_text=T(locale, "fig.in_stock")).wait_for()
        await viewer.click("#bag-btn")
        row = viewer.locator(f"#lineup-sheet .lineup-row[data-product='{ids[SCARF]}']")
        assert T(locale, "shop.left", n=10) not in await row.inner_text()
        await viewer.keyboard.press("Escape")
        for width in WIDTHS:
            await check_viewer("closed", width)
            await check_studio("closed", width)

        docs = await new_page(browser, errors, locale=locale, reduced_motion="reduce")
        await docs.goto(f"{n.url}/api/docs")
        await docs.locator(".api-op").first.wait_for()
        # The description's Markdown `code` is shown as code, not as backticks.
        assert "`" not in await docs.inner_text("#api-intro")
        assert "Retry-After" in await docs.locator("#api-intro code").all_inner_texts()
        shows = await new_page(browser, errors, locale=locale, reduced_motion="reduce")
        await shows.goto(f"{n.url}/")
        await shows.locator(f".show-card[data-room='{room}']").wait_for()
        for width in WIDTHS:
            await resize(docs, width)
            problems.extend(await fits(docs, "api", f"/api/docs {width}px {lang}"))
            await resize(shows, width)
            problems.extend(await fits(shows, "shows", f"show list {width}px {lang}"))
        for page in (viewer, studio, docs, shows):
            await page.context.close()
    assert not problems, f"{len(problems)} found:\n" + "\n".join(problems)
    assert errors == []
