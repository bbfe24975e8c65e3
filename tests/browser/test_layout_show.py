"""A show through the multi-node layout in real Chromium: nginx, three nodes, Redis.

The layout is ``livecart.loadtest.layout``: Debian's nginx running deploy/nginx.conf
(or deploy/nginx-tls.conf with a self-signed certificate: the ``https`` run) in front of
three ``livecart serve --workers 2`` nodes. Every page is loaded through nginx.

The host goes live from the studio with the fake camera and pins a product; two viewers
whose room sockets landed on different nodes (nginx names the upstream in a test-only
header, read from the WebSocket handshake through CDP) chat, see the pin and one buys.
Then the node of one viewer is SIGKILLed (supervisor and workers): that page reconnects
through nginx to a live node and resumes with ``recovered: true`` and no gap in ``seq``,
and shows what was said meanwhile, once.

Video: WHIP and ``/ws/video`` go to every node (the publisher's process relays the
video to the others); both viewers must play from whichever process nginx picked, less
than 1 s behind live, and the killed node's viewer plays again after it reconnected.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from livecart.loadtest.layout import UPSTREAM_HEADER, Layout, layout
from tests.chromium import chromium, poll
from tests.pages_fixtures.harness import DESKTOP, PHONE, STUDIO, new_page

ROOM = "layout-live"
MISSED = ["still there?", "the scarf is back", "two left!"]
BEHIND_LIVE_GOAL = 1.0  # seconds


@pytest.fixture(params=["http", "https"])
def lay(request: pytest.FixtureRequest) -> Iterator[Layout]:
    with layout(
        nodes=3,
        workers=2,
        tls=request.param == "https",
        upstream_header=True,
    ) as running:
        yield running


class Sockets:
    """The WebSocket handshakes of one page, as CDP reports them: url and upstream."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self.opened: list[tuple[str, str]] = []

    async def attach(self, page: Any) -> None:
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Network.enable")
        cdp.on("Network.webSocketCreated", self._created)
        cdp.on("Network.webSocketHandshakeResponseReceived", self._handshake)

    def _created(self, ev: dict[str, Any]) -> None:
        self.urls[ev["requestId"]] = ev["url"]

    def _handshake(self, ev: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in ev["response"]["headers"].items()}
        url = self.urls.get(ev["requestId"], "")
        self.opened.append((url, headers.get(UPSTREAM_HEADER.lower(), "")))

    def last(self, kind: str) -> str:
        """The upstream of the newest ``/ws/<room>`` (kind "room") or video socket."""
        for url, upstream in reversed(self.opened):
            video = "/ws/video/" in url
            if (kind == "video") == video and "/ws/" in url:
                return upstream
        return ""


async def open_page(
    browser: Any, errors: list[str], url: str, name: str = "", **context: Any
) -> tuple[Any, Sockets]:
    """A page whose WebSocket handshakes are tracked; ``name``: the viewer's chat name,
    kept as the page keeps it (so no reconnect to set it moves the socket)."""
    page = await new_page(browser, errors, ignore_https_errors=True, **context)
    if name:
        await page.add_init_script(f"localStorage.setItem('livecart:name', {name!r})")
    sockets = Sockets()
    await sockets.attach(page)
    await page.goto(url)
    return page, sockets


RECORD_FRAMES = """() => {
  window.__base = window.livecart.conn.seq;
  window.__frames = [];
  window.__statuses = [];
  window.livecart.conn.addEventListener("status", (e) => window.__statuses.push(e.detail));
  window.livecart.conn.addEventListener("frame", (e) => {
    const f = e.detail;
    const seqs = (f.events || []).map((x) => x.seq).filter((s) => typeof s === "number");
    window.__frames.push({t: f.t, recovered: f.recovered, seq: f.seq, seqs});
  });
}"""


def continuous(base: int, frames: list[dict[str, Any]]) -> list[int]:
    """Every sequenced event the page got after ``base``, asserting there is no gap and
    no repeat (a resume's events, then its ``seq``, pick up exactly where it was)."""
    got: list[int] = []
    last = base
    for frame in frames:
        for seq in frame["seqs"]:
            assert seq == last + 1, f"after seq {last} came {seq}: {frames}"
            last = seq
            got.append(seq)
        if frame["t"] in ("resume", "snapshot"):
            assert frame["seq"] == last, frame
    return got


async def video_plays(page: Any) -> None:
    """Wait for the video to play (currentTime advancing)."""
    playing = "document.getElementById('app').dataset.state === 'playing'"
    await poll(page, playing, 30, "video")
    t1 = await page.evaluate("document.getElementById('video').currentTime")
    await asyncio.sleep(0.8)
    assert await page.evaluate("document.getElementById('video').currentTime") > t1


async def behind_live(page: Any) -> float:
    """The median, over 2 s, of how far playback is behind capture: the newest video
    fragment's age on arrival (server and page share this machine's clock) plus what
    is buffered ahead of the playhead."""
    samples = []
    for _ in range(10):
        delay, buffered = await page.evaluate(
            "[window.livecart.player.stats.delay, window.livecart.player.latency]"
        )
        if delay is not None:
            samples.append(delay + buffered)
        await asyncio.sleep(0.2)
    assert samples, "no video fragment timing"
    return statistics.median(samples)


async def chat(page: Any, text: str, name: str | None = None) -> None:
    await page.fill("#chat-input", text)
    await page.press("#chat-input", "Enter")
    if name is not None:
        await page.fill("#name-input", name)
        await page.press("#name-input", "Enter")
    await page.locator("#chat .msg", has_text=text).wait_for(timeout=10_000)


async def test_show_through_the_layout(lay: Layout) -> None:
    errors: list[str] = []
    figures: dict[str, Any] = {"scheme": lay.url.split(":")[0]}
    extra = ("--ignore-certificate-errors",) if lay.tls else ()
    async with aiohttp.ClientSession() as http, chromium(extra) as browser:
        async with http.post(
            f"{lay.url}/api/rooms",
            json={"id": ROOM, "title": "Layout night", "host": "Mia"},
            headers={"Authorization": f"Bearer {lay.admin}"},
            ssl=False,
        ) as resp:
            assert resp.status == 201, await resp.text()
            token = (await resp.json())["host_token"]

        # The host: product, pin, go live with the fake camera (WHIP through nginx).
        studio, _ = await open_page(
            browser, errors, f"{lay.url}/studio/{ROOM}#token={token}", **STUDIO
        )
        await poll(studio, "window.livecart && window.livecart.conn.status === 'open'")
        await studio.click("#add-product")
        form = studio.locator("#product-form")
        await form.locator("[name=name]").fill("Silk scarf")
        await form.locator("[name=price]").fill("129.00")
        await form.locator("[name=image_url]").fill("/static/img/sample-scarf.svg")
        await form.locator("[name=stock]").fill("40")
        await form.locator("button[type=submit]").click()
        item = studio.locator("li.lineup-item", has_text="Silk scarf")
        await item.wait_for()
        await item.locator(".pin-btn").click()
        await poll(studio, "window.livecart.model.pinned !== null")
        await poll(studio, "window.livecart.broadcast.stream !== null", 10, "camera preview")
        whip_upstreams: list[str] = []  # which node answered each WHIP offer
        studio.on(
            "response",
            lambda r: (
                whip_upstreams.append(r.headers.get(UPSTREAM_HEADER.lower(), ""))
                if "/whip/" in r.url and r.request.method == "POST"
                else None
            ),
        )
        await studio.click("#go-live")
        await poll(studio, "window.livecart.broadcast.state === 'live'", 20, "WHIP connected")
        await studio.fill("#sale-price", "99.00")
        await studio.fill("#sale-units", "10")
        await studio.fill("#sale-limit", "2")
        await studio.click("#open-sale")
        await studio.locator("#sale .badge-open").wait_for()

        # Two viewers whose room sockets are on different nodes (bounded reloads).
        viewer_url = f"{lay.url}/live/{ROOM}"
        phone, phone_ws = await open_page(browser, errors, viewer_url, "Ana", **PHONE)
        desk, desk_ws = await open_page(browser, errors, viewer_url, "Ben", **DESKTOP)
        for page in (phone, desk):
            await poll(page, "window.livecart && window.livecart.conn.status === 'open'")
        for _ in range(8):
            if lay.node_at(phone_ws.last("room")) is not lay.node_at(desk_ws.last("room")):
                break
            await desk.reload()
            await poll(desk, "window.livecart && window.livecart.conn.status === 'open'")
        phone_node = lay.node_at(phone_ws.last("room"))
        desk_node = lay.node_at(desk_ws.last("room"))
        assert phone_node is not desk_node, (phone_ws.opened, desk_ws.opened)
        figures["nodes"] = {"phone": phone_node.name, "desk": desk_node.name}

        # Video on both viewers, from whichever process nginx picked.
        await asyncio.gather(video_plays(phone), video_plays(desk))
        figures["video_nodes"] = [lay.node_at(s.last("video")).name for s in (phone_ws, desk_ws)]
        lags = [await behind_live(phone), await behind_live(desk)]
        figures["behind_live_s"] = [round(x, 3) for x in lags]
        assert max(lags) < BEHIND_LIVE_GOAL, lags

        # The pin, chat across nodes, a purchase.
        for page in (phone, desk):
            await page.locator("#pinned", has_text="Silk scarf").wait_for()
            assert "$99.00" in await page.inner_text("#pinned")
        await chat(phone, "Does it come in blue?")
        await desk.locator("#chat .msg", has_text="come in blue").wait_for()
        await chat(desk, "I have the red one")
        await phone.locator("#chat .msg", has_text="the red one").wait_for()
        await desk.click("#pinned .buy-btn")
        await desk.click("#checkout-sheet .pay-btn")
        order_id = (await desk.locator("#order-id").inner_text(timeout=15_000)).strip()
        assert order_id.startswith("o_")
        await phone.locator("#pinned", has_text="9 left").wait_for(timeout=10_000)
        await desk.keyboard.press("Escape")

        # SIGKILL a viewer's node that does not hold the publisher: the show goes on.
        assert lay.node_at(phone_ws.last("room")) is phone_node, "no reconnect so far"
        assert lay.node_at(desk_ws.last("room")) is desk_node, "no reconnect so far"
        assert whip_upstreams, "the WHIP offer's answer was not seen"
        publisher_node = lay.node_at(whip_upstreams[-1])
        figures["publisher"] = publisher_node.name
        victim_page, victim_ws, other = (
            (desk, desk_ws, phone) if phone_node is publisher_node else (phone, phone_ws, desk)
        )
        victim = lay.node_at(victim_ws.last("room"))
        await victim_page.evaluate(RECORD_FRAMES)
        base = await victim_page.evaluate("window.__base")
        await asyncio.to_thread(lay.kill, victim)
        figures["killed"] = victim.name
        await poll(victim_page, "window.__statuses.includes('retrying')", 10, "socket lost")
        for text in MISSED:
            # the studio may have been on the killed node too: it sends once it is back
            await poll(studio, "window.livecart.conn.status === 'open'", 15, "studio back")
            await studio.fill("#host-chat-input", text)
            await studio.press("#host-chat-input", "Enter")
            await other.locator("#chat .msg", has_text=text).wait_for(timeout=10_000)

        for text in MISSED:
            await victim_page.locator("#chat .msg", has_text=text).wait_for(timeout=20_000)
        await poll(victim_page, "window.livecart.conn.status === 'open'", 10, "resumed")
        back = lay.node_at(victim_ws.last("room"))
        assert back is not victim and back.alive
        figures["resumed_on"] = back.name
        frames = await victim_page.evaluate("window.__frames")
        resumes = [f for f in frames if f["t"] in ("resume", "snapshot")]
        assert [f["t"] for f in resumes] == ["resume"] and resumes[0]["recovered"] is True
        assert len(continuous(base, frames)) >= len(MISSED)
        shown = await victim_page.eval_on_selector_all(
            "#chat .msg-text", "els => els.map(e => e.textContent)"
        )
        for text in MISSED:
            assert shown.count(text) == 1, shown
        # The new socket carries chat both ways.
        await chat(victim_page, "back again")
        await other.locator("#chat .msg", has_text="back again").wait_for()
        await video_plays(victim_page)
        for page in (studio, phone, desk):
            await page.context.close()

    print(f"\nlayout show: {figures}")
    log = lay.access_log.read_text()
    assert f"/ws/{ROOM}" in log and "token=" not in log and "vid=" not in log
    assert errors == []
