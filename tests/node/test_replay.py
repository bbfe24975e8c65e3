"""Replay against a real node: a show recorded in real time, its per-show event log under
a 50-messages-a-second chat, chapters, event windows, clips, hiding and deletion.

The video is synthetic H.264 (PyAV, 30 fps, a keyframe a second) fed to the node's own
streamer channel at its real pace, so media time, server time and the events' times
are the ones a show has. Events go through the node's hub and the real emit script.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import av

from livecart.chat.events import ChatMessage, ChatUser
from livecart.keyspace import show_log_key, show_state_key
from livecart.streamer.app import STREAMER
from livecart.streamer.synthetic import encode_clip
from livecart.web.keys import CONFIG, HUB
from livecart.web.replay_api import SHOW_LOG, follow_show
from tests.hubclient import Node, connect, create_room

ROOM = "replay1"
FPS = 30
SECONDS = 9.0
CHAT_RATE = 50


async def _post(http: aiohttp.ClientSession, url: str, token: str, body: Any) -> dict[str, Any]:
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status in (200, 201), await r.text()
        data: dict[str, Any] = await r.json()
        return data


async def _record(node: Node, script: list[tuple[float, Any]]) -> tuple[str, list[int]]:
    """Feed SECONDS of video in real time while running ``script`` (time -> coroutine
    factory) and a 50/s chat; return the show id and the chat seqs emitted."""
    app = node.runner.app
    service = app[STREAMER]
    hub = app[HUB]
    channel = service.channel(ROOM)
    show = channel.start_show("test")
    await follow_show(app, ROOM, show.recorder.show, True)
    frames = encode_clip(width=320, height=180, frames=int(SECONDS * FPS), gop=FPS)
    seqs: list[int] = []
    user = ChatUser("v1", "Ann", "viewer")

    async def chat() -> None:
        n = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < SECONDS - 0.5:
            n += 1
            event = ChatMessage(ts=int(time.time() * 1000), user=user, text=f"m{n}")
            seqs.append(await hub.store.emit(ROOM, event))
            await asyncio.sleep(max(0.0, t0 + n / CHAT_RATE - time.monotonic()))

    async def run_script() -> None:
        t0 = time.monotonic()
        for at, action in script:
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            await action()

    async def feed() -> None:
        t0 = time.monotonic()
        for i, frame in enumerate(frames):
            await asyncio.sleep(max(0.0, t0 + i / FPS - time.monotonic()))
            channel.on_video_frame(frame.data, i * (90_000 // FPS))

    await asyncio.gather(feed(), chat(), run_script())
    recorder = show.recorder
    channel.end_show()
    await recorder.wait_closed()
    await follow_show(app, ROOM, recorder.show, False)
    return recorder.show, seqs


async def test_a_recorded_show_replays_with_chapters_chat_and_clips(
    node: Node, http: aiohttp.ClientSession, redis_client: Any, tmp_path: Path
) -> None:
    node.runner.app[STREAMER].data_dir = tmp_path
    node.runner.app[CONFIG].data_dir = tmp_path
    token = await create_room(http, node, ROOM)
    base = f"{node.url}/api/rooms/{ROOM}"
    ids = []
    for name in ("Teapot", "Kettle"):
        body = {"name": name, "price": 1200, "currency": "CNY", "stock": 10}
        data = await _post(http, f"{base}/products", token, body)
        ids.append(data["data"]["product"]["id"])
    a, b = ids
    pins: dict[str, float] = {}
    deleted: list[int] = []

    def pin(pid: str) -> Any:
        async def act() -> None:
            pins[pid] = time.time()
            await _post(http, f"{base}/pin", token, {"product_id": pid})

        return act

    async def delete_one() -> None:
        raw = await redis_client.xrevrange(show_log_key(ROOM, show_of()), count=1)
        seq = json.loads(raw[0][1][b"e"])["seq"]
        deleted.append(seq)
        await _post(http, f"{base}/commands", token, {"cmd": "delete", "message_id": seq})

    def show_of() -> str:
        channel = node.runner.app[STREAMER].channels[ROOM]
        assert channel.show is not None
        return channel.show.recorder.show

    show, seqs = await _record(node, [(2.1, pin(a)), (4.0, delete_one), (5.9, pin(b))])

    # The per-show log: every chat message, in order, nothing dropped.
    logged = [json.loads(f[b"e"]) for _, f in await redis_client.xrange(show_log_key(ROOM, show))]
    assert [e["seq"] for e in logged] == seqs
    assert len(seqs) >= CHAT_RATE * (SECONDS - 1)
    state = [
        json.loads(f[b"e"])["type"]
        for _, f in await redis_client.xrange(show_state_key(ROOM, show))
    ]
    assert state[0] == "snapshot" and state.count("pin") == 2 and "chat_deleted" in state
    info = await node.runner.app[SHOW_LOG].info(ROOM, show)
    assert info["dropped"] == 0 and info["chat"] == len(seqs)
    ttl = await redis_client.pttl(show_log_key(ROOM, show))
    assert 29 * 86_400_000 < ttl <= 30 * 86_400_000

    # The show list and the show: two chapters at the pins, within one segment (2 s).
    async with http.get(f"{base}/shows") as r:
        listed = (await r.json())["shows"]
    assert [s["show"] for s in listed] == [show]
    assert listed[0]["replay"] == f"/replay/{ROOM}/{show}"
    async with http.get(f"{base}/shows/{show}") as r:
        detail = await r.json()
    chapters = {c["product_id"]: c for c in detail["chapters"]}
    assert set(chapters) == {a, b}
    first = detail["first"]
    assert abs(chapters[a]["at"] - first - 2.1) < 2.0
    assert abs(chapters[b]["at"] - first - 5.9) < 2.0
    assert abs(chapters[a]["end"] - chapters[b]["at"]) < 0.01
    assert chapters[b]["end"] == round(first + detail["duration"], 3)

    # A window at B's chapter: B is pinned; chat there, the deleted message is not.
    at = chapters[b]["at"]
    async with http.get(f"{base}/shows/{show}/events", params={"from": at, "to": at + 2}) as r:
        window = await r.json()
    assert window["state"]["pinned"] == b
    async with http.get(f"{base}/shows/{show}/events", params={"from": 0, "to": 20}) as r:
        everything = await r.json()
    chat_ids = [e["id"] for e in everything["events"] if e["type"] == "chat"]
    assert deleted and deleted[0] not in chat_ids
    assert chat_ids == [s for s in seqs if s not in deleted]
    ats = [e["at"] for e in everything["events"]]
    assert ats == sorted(ats)
    async with http.get(f"{base}/shows/{show}/events", params={"from": 0, "to": 900}) as r:
        assert r.status == 400

    # The playlist carries the server time of each segment.
    async with http.get(f"{node.url}/hls/{ROOM}/{show}/video.m3u8") as r:
        playlist = await r.text()
    assert playlist.count("#EXT-X-PROGRAM-DATE-TIME:") == playlist.count("#EXTINF:")

    # B's clip: a playable MP4 as long as the chapter, give or take one GOP (1 s).
    async with http.get(f"{base}/shows/{show}/clips/{b}/0.mp4") as r:
        assert r.status == 200 and r.content_type == "video/mp4"
        mp4 = await r.read()
    with av.open(io.BytesIO(mp4), "r") as clip:
        stream = clip.streams.video[0]
        packets = [p for p in clip.demux(stream) if p.size]
        assert packets[0].is_keyframe
        length = float(sum(p.duration or 0 for p in packets) * (stream.time_base or 1))
    with av.open(io.BytesIO(mp4), "r") as clip:
        pictures = len(list(clip.decode(video=0)))
    assert pictures == len(packets)
    expected = chapters[b]["end"] - chapters[b]["at"]
    assert abs(length - expected) <= 2 * 1.0 + 0.05  # a GOP each side at most
    async with http.get(f"{base}/shows/{show}/clips/{b}/5.mp4") as r:
        assert r.status == 404

    # Views count; a hidden chapter leaves the public list; delete removes everything.
    async with http.post(f"{base}/shows/{show}/views") as r:
        assert (await r.json())["views"] == 1
    host = {"Authorization": f"Bearer {token}"}
    hide = {"hidden": False, "hidden_chapters": [f"{a}:0"]}
    async with http.put(f"{base}/shows/{show}/visibility", json=hide, headers=host) as r:
        assert r.status == 200, await r.text()
    async with http.get(f"{base}/shows/{show}") as r:
        assert [c["product_id"] for c in (await r.json())["chapters"]] == [b]
    async with http.get(f"{base}/shows/{show}/clips/{a}/0.mp4") as r:
        assert r.status == 404
    async with http.put(
        f"{base}/shows/{show}/visibility", json={"hidden": True}, headers=host
    ) as r:
        assert r.status == 200
    async with http.get(f"{base}/shows") as r:
        assert (await r.json())["shows"] == []
    async with http.get(f"{base}/shows", headers=host) as r:
        assert [s["hidden"] for s in (await r.json())["shows"]] == [True]
    async with http.delete(f"{base}/shows/{show}") as r:
        assert r.status == 401
    async with http.delete(f"{base}/shows/{show}", headers=host) as r:
        assert (await r.json()) == {"deleted": True}
    assert not await redis_client.exists(show_log_key(ROOM, show), show_state_key(ROOM, show))
    async with http.get(f"{base}/shows/{show}", headers=host) as r:
        assert r.status == 404


async def test_the_show_log_is_bounded(node: Node, http: aiohttp.ClientSession) -> None:
    app = node.runner.app
    await create_room(http, node, ROOM)
    log = app[SHOW_LOG]
    log.max_entries = 40
    await follow_show(app, ROOM, "bounded", True)
    user = ChatUser("v1", "Ann", "viewer")
    for n in range(100):
        await app[HUB].store.emit(
            ROOM, ChatMessage(ts=int(time.time() * 1000), user=user, text=f"{n}")
        )
    await follow_show(app, ROOM, "bounded", False)
    info = await log.info(ROOM, "bounded")
    assert info["chat"] == 40 and info["dropped"] == 60
    # After the show, the room's events are no longer logged.
    await app[HUB].store.emit(ROOM, ChatMessage(ts=int(time.time() * 1000), user=user, text="x"))
    assert (await log.info(ROOM, "bounded"))["chat"] == 40


async def test_a_purchase_in_the_show_moves_the_replay_stock_label_at_its_moment(
    node: Node, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    node.runner.app[STREAMER].data_dir = tmp_path
    node.runner.app[CONFIG].data_dir = tmp_path
    token = await create_room(http, node, ROOM)
    host = await connect(http, node, ROOM, name="Mia", token=token)
    buyer = await connect(http, node, ROOM, name="Bob")
    added = await host.command("add_product", name="Scarf", price=12900, currency="CNY", stock=9)
    pid = added["data"]["product"]["id"]
    assert (await host.command("pin", product_id=pid))["ok"]
    sale = await host.command(
        "open_sale", product_id=pid, price=9900, currency="CNY", units=6, limit=6
    )
    assert sale["ok"], sale
    bought: list[tuple[float, int]] = []  # (server ms, units left after)

    def buy(qty: int, left: int) -> Any:
        async def act() -> None:
            at = time.time() * 1000
            reply = await buyer.command("buy", product_id=pid, qty=qty, key=f"replay-buy-{left}")
            assert reply["ok"], reply
            bought.append((at, left))

        return act

    # the second purchase follows the first within the second: its label waits for the
    # next sample (at most a second after the first record)
    show, _ = await _record(node, [(2.0, buy(2, 4)), (2.3, buy(1, 3)), (5.0, buy(3, 0))])
    base = f"{node.url}/api/rooms/{ROOM}/shows/{show}"
    async with http.get(f"{base}/events", params={"from": 0, "to": 20}) as r:
        window = await r.json()
    assert window["state"]["sales"][pid]["units_left"] == 6
    stock = [e for e in window["events"] if e["type"] == "stock"]
    # the first read of the show logs the label as it was, then each change
    assert [e["stock"][pid] for e in stock] == [6, 4, 3, 0]
    stock = stock[1:]
    for (at, _left), record in zip(bought, stock, strict=True):
        assert 0 <= record["ts"] - at < 1_000 + 300  # within the sample and one live read
    assert stock[1]["ts"] - stock[0]["ts"] >= 1_000
    # The state at a moment: just before a record the old label, just after the new one.
    for before, record in zip([6, 4, 3], stock, strict=True):
        for offset, units in ((-0.05, before), (0.05, record["stock"][pid])):
            at = record["at"] + offset
            params = {"from": at, "to": at + 1}
            async with http.get(f"{base}/events", params=params) as r:
                assert (await r.json())["state"]["sales"][pid]["units_left"] == units
