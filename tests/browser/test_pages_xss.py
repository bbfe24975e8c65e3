"""User text on the pages is text: OWASP filter-evasion payloads never run and show as typed.

Payloads go in as chat messages, display names, product names, the room title and the
host name, through every way in (the viewer's own composer, other viewers' sockets, the
host API). The pages carry a CSP that would block inline handlers anyway, so the test
does not rely on ``window.__xss`` alone: it also checks that no element was created
from the payloads and that their exact text is on the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from livecart.redis_process import RedisProcess
from tests.hubclient import connect
from tests.pages_fixtures.harness import PHONE, STUDIO, chromium, create_room, new_page, node, poll

ROOM = "xss"
PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<svg/onload=window.__xss=1>",
    '"><script>window.__xss=1</script>',
    "<iframe src=javascript:window.__xss=1></iframe>",
    '<a href="javascript:window.__xss=1">tap</a>',
    "<IMG SRC=`javascript:window.__xss=1`>",
    "<body onload=window.__xss=1>",
    "'';!--\"<XSS>=&{()}",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=1>",
    "<details open ontoggle=window.__xss=1>",
]
NAMES = ["<svg/onload=window.__xss=1>", "<img src=x onerror=__xss=1>", '"><b>bold</b>']
TITLE = '<img src=x onerror="window.__xss=1"> deals'
HOST = "<svg/onload=window.__xss=1>"

# Elements the pages never create themselves; any of them would come from a payload.
INJECTED = (
    'document.querySelectorAll(\'img[src="x"], iframe, math, mglyph, details, xss, style,'
    ' [onerror], [onload], [ontoggle], a[href^="javascript"]\').length'
    " + document.querySelectorAll('script').length - 1"
    " + [...document.querySelectorAll('b')].filter(b => b.textContent === 'bold').length"
)


async def texts(page: Any, selector: str) -> list[str]:
    result: list[str] = await page.eval_on_selector_all(
        selector, "els => els.map(e => e.textContent)"
    )
    return result


async def assert_clean(page: Any) -> None:
    assert await page.evaluate("typeof window.__xss") == "undefined"
    assert await page.evaluate(INJECTED) == 0


async def test_payloads_render_as_text(
    redis_server: RedisProcess, redis_client: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    errors: list[str] = []
    async with node(redis_server.url, tmp_path) as n, chromium() as browser:
        token = await create_room(http, n, ROOM, TITLE, HOST)
        auth = {"Authorization": f"Bearer {token}"}
        api = f"{n.url}/api/rooms/{ROOM}"

        # javascript: image URLs are refused by the server; the rest are stored as typed.
        async with http.post(
            f"{api}/products",
            headers=auth,
            json={"name": "x", "price": 1, "currency": "USD", "stock": 1,
                  "image_url": "javascript:window.__xss=1"},
        ) as resp:  # fmt: skip
            assert resp.status == 400
        ids = []
        for i, name in enumerate(PAYLOADS[:4]):
            body = {
                "name": name,
                "price": 1000 + i,
                "currency": "USD",
                "stock": 5,
                "image_url": '/static/img/none.png" onerror="window.__xss=1',
            }
            async with http.post(f"{api}/products", headers=auth, json=body) as resp:
                assert resp.status == 201, await resp.text()
                ids.append((await resp.json())["data"]["product"]["id"])
        async with http.post(f"{api}/pin", headers=auth, json={"product_id": ids[0]}) as resp:
            assert resp.status == 200
        sale = {"cmd": "open_sale", "product_id": ids[0], "price": 500, "currency": "USD",
                "units": 5, "limit": 1}  # fmt: skip
        async with http.post(f"{api}/commands", headers=auth, json=sale) as resp:
            assert resp.status == 200, await resp.text()

        viewer = await new_page(browser, errors, **PHONE)
        await viewer.goto(f"{n.url}/live/{ROOM}")
        await poll(viewer, "window.livecart && window.livecart.conn.status === 'open'")
        # The room never went live: the viewer is told so.
        await poll(viewer, "document.getElementById('app').dataset.state === 'scheduled'")
        assert "Not live yet" in await viewer.inner_text("#state-card")
        studio = await new_page(browser, errors, **STUDIO)
        await studio.goto(f"{n.url}/studio/{ROOM}#token={token}")
        await poll(studio, "window.livecart && window.livecart.conn.status === 'open'")

        # Other viewers with payload names send payload messages.
        clients = []
        for i, text in enumerate(PAYLOADS):
            client = await connect(http, n, ROOM, name=NAMES[i % len(NAMES)])
            clients.append(client)
            reply = await client.command("chat", text=text)
            assert reply["ok"], reply
        # The viewer's own name and message, typed into the page.
        await viewer.fill("#chat-input", PAYLOADS[2])
        await viewer.press("#chat-input", "Enter")
        await viewer.fill("#name-input", NAMES[0])
        await viewer.press("#name-input", "Enter")
        await poll(viewer, f"document.querySelectorAll('#chat .msg').length >= {len(PAYLOADS) + 1}")
        await poll(studio, f"document.querySelectorAll('.desk-msg').length >= {len(PAYLOADS) + 1}")
        await viewer.click("#bag-btn")
        await viewer.locator("#lineup-sheet .lineup-row").nth(3).wait_for()

        shown = await texts(viewer, "#chat .msg-text")
        assert all(p in shown for p in PAYLOADS), shown
        names = await texts(viewer, "#chat .msg-name")
        assert all(any(name in t for t in names) for name in NAMES), names
        assert await viewer.inner_text("#pinned .pin-name") == PAYLOADS[0]
        assert await texts(viewer, "#lineup-sheet .row-name") == PAYLOADS[:4]
        assert await viewer.inner_text(".top-title") == TITLE
        assert HOST in await viewer.inner_text(".top-host")

        desk = await texts(studio, ".desk-text")
        assert all(p in desk for p in PAYLOADS), desk
        assert await texts(studio, ".lineup-item .item-name") == PAYLOADS[:4]
        assert await studio.inner_text("#room-title") == TITLE

        shows = await new_page(browser, errors, **PHONE)
        await shows.goto(f"{n.url}/")
        await shows.locator(".show-title").first.wait_for()
        assert TITLE in await texts(shows, ".show-title")

        for page in (viewer, studio, shows):
            await assert_clean(page)
            await page.context.close()
        for client in clients:
            await client.ws.close()
    assert errors == []
