"""Hostile input against a real node and a real Redis: every piece gets its documented
answer, changes nothing it should not, and leaves no traceback in the log.

- deleted chat is gone from the snapshot, a resume from 0, the stored history and a
  node that loads the room afresh;
- the banned-word filter sees through zero-width characters, soft hyphens, look-alike
  letters, fullwidth forms and combining marks; bidi controls never reach viewers;
- lone surrogates (JSON escapes, invalid MessagePack strings, HTTP bodies, a stored
  banned-word list) get ``bad_frame``/``bad_args``, and the studio still joins;
- ``since=²``, a 5,000-digit ``since``, deep frames and bodies, non-ASCII tokens;
- orders.csv neutralises formula prefixes in buyer names.
"""

from __future__ import annotations

import csv
import io
import json
import logging

import aiohttp
import msgpack
import pytest
import redis.asyncio as aioredis

from livecart.keyspace import room_key
from livecart.web.keys import CONFIG
from tests.hubclient import ADMIN, Client, Node, connect, create_room, running_node

CARD_OK = "4242424242424242"


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every log record that carries a traceback, or is an error of the server."""
    return [
        f"{r.name}: {r.getMessage()[:200]}"
        for r in caplog.records
        if r.exc_info or (r.levelno >= logging.ERROR and r.name.startswith(("aiohttp", "livecart")))
    ]


async def raw_reply(client: Client, frame: str | bytes) -> dict[str, object]:
    """Send a frame as it is and return the reply to it (``id`` null or 1)."""
    if isinstance(frame, bytes):
        await client.ws.send_bytes(frame)
    else:
        await client.ws.send_str(frame)
    while True:
        got = await client.recv()
        if got["t"] == "reply":
            return got


async def test_a_deleted_message_is_gone_everywhere(
    http: aiohttp.ClientSession, node: Node, redis_client: aioredis.Redis
) -> None:
    token = await create_room(http, node)
    host = await connect(http, node, name="Mia", token=token)
    viewer = await connect(http, node, name="Eve")
    secret = "call me at 555-0100 for a deal"
    sent = await viewer.command("chat", text=secret)
    assert sent["ok"], sent
    seq = sent["data"]["seq"]
    await viewer.command("chat", text="a message that stays")
    assert (await host.command("delete", message_id=seq))["ok"]
    again = await host.command("delete", message_id=seq)
    assert again["error"]["code"] == "not_found"
    epoch = viewer.first["epoch"]

    def no_secret(frame: object) -> None:
        assert secret not in json.dumps(frame), frame

    resumed = await connect(http, node, name="Late", since=0, epoch=epoch)
    assert resumed.first["t"] == "resume", resumed.first
    no_secret(resumed.first)
    kept = [e for e in resumed.first["events"] if e["type"] == "chat"]
    assert [e["text"] for e in kept] == ["a message that stays"]
    tomb = [e for e in resumed.first["events"] if e.get("seq") == seq]
    assert tomb == [{"seq": seq, "ts": tomb[0]["ts"], "type": "chat_deleted", "id": seq}]
    fresh = await connect(http, node, name="New")
    no_secret(fresh.first)
    stored = await redis_client.lrange(room_key("r1", "history"), 0, -1)
    assert stored and all(secret.encode() not in record for record in stored)
    async with http.get(f"{node.url}/api/rooms/r1") as resp:
        no_secret(await resp.json())
    # a node that loads the room from Redis afresh holds no copy either
    async with running_node(node_url_redis(node), "node-b") as other:
        late = await connect(http, other, name="Other", since=0, epoch=epoch)
        assert late.first["t"] == "resume"
        no_secret(late.first)
        await late.ws.close()
    for client in (host, viewer, resumed, fresh):
        await client.ws.close()


BYPASSES = [
    "s\u200bcam",  # zero-width space
    "s\u00adcam",  # soft hyphen
    "s\u2060c\ufeffam",  # word joiner, BOM
    "ѕсаm",  # Cyrillic look-alikes
    "ｓｃａｍ",  # fullwidth
    "S\u0336C\u0336A\u0336M\u0336",  # combining strokes
    "ſcam",  # long s (NFKC)
    "\u202escam",  # right-to-left override
    "what a SCAM!",
    "这是詐欺",  # a CJK banned word inside a sentence without spaces
]


async def test_banned_words_are_not_bypassed_and_bidi_controls_never_reach_viewers(
    http: aiohttp.ClientSession, node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    token = await create_room(http, node)
    host = await connect(http, node, name="Mia", token=token)
    set_words = await host.command("banned_words", words=["scam", "詐欺"])
    assert set_words["ok"], set_words
    viewer = await connect(http, node, name="Eve")
    for text in BYPASSES:
        reply = await viewer.command("chat", text=text)
        assert not reply["ok"] and reply["error"]["code"] == "blocked_word", (text, reply)
    sent = await viewer.command("chat", text="\u202eevil\u2066 ok\u200b")
    assert sent["ok"], sent
    await host.wait_for(lambda c: any(e["type"] == "chat" for e in c.events))
    [message] = [e for e in host.events if e["type"] == "chat"]
    assert message["text"] == "evil ok"
    renamed = await connect(http, node, name="\u202eＡlice\u200b")
    assert renamed.first["you"]["name"] == "Alice"
    added = await host.command(
        "add_product", name="Ｓcarf\u202e\u00ad", price=100, currency="CNY", stock=1
    )
    assert added["data"]["product"]["name"] == "Scarf"
    assert tracebacks(caplog) == []


async def test_lone_surrogates_get_documented_errors_and_change_nothing(
    http: aiohttp.ClientSession,
    node: Node,
    redis_client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = await create_room(http, node)
    host = await connect(http, node, name="Mia", token=token)
    viewer = await connect(http, node, name="Eve")
    msgpack_viewer = await connect(http, node, name="Pat", fmt="livecart.v1.msgpack")
    frames = [
        '{"id": 1, "cmd": "chat", "text": "hi \\ud800"}',
        '{"id": 1, "cmd": "chat", "text": "\\udfff"}',
        '{"id": 1, "cmd": "chat", "\\ud800": 1, "text": "x"}',
        '{"id": "\\udc00", "cmd": "ping"}',
    ]
    for frame in frames:
        reply = await raw_reply(viewer, frame)
        assert reply["error"] == {  # type: ignore[comparison-overlap]
            "code": "bad_frame",
            "message": "a string holds a lone surrogate (U+D800-U+DFFF)",
        }, frame
    ok_pair = await raw_reply(viewer, '{"id": 1, "cmd": "chat", "text": "smile \\ud83d\\ude00"}')
    assert ok_pair["ok"], ok_pair
    # MessagePack: a "string" of the bytes UTF-8 would give U+D800
    frame = b"\x83" + msgpack.packb("id") + msgpack.packb(1) + msgpack.packb("cmd")
    frame += msgpack.packb("chat") + msgpack.packb("text") + b"\xa3\xed\xa0\x80"
    reply = await raw_reply(msgpack_viewer, frame)
    assert reply["error"]["code"] == "bad_frame"  # type: ignore[index]
    # host commands: product names, banned words
    for cmd in (
        '{"id": 1, "cmd": "add_product", "name": "\\ud800", "price": 1, "currency": "CNY",'
        ' "stock": 1}',
        '{"id": 1, "cmd": "banned_words", "words": ["ok", "\\ud800"]}',
    ):
        reply = await raw_reply(host, cmd)
        assert reply["error"]["code"] == "bad_frame", reply  # type: ignore[index]
    # HTTP bodies: title, product names
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for path, body in (
        (
            "/api/rooms/r1/products",
            b'{"name": "\\ud800", "price": 1, "currency": "CNY", "stock": 1}',
        ),
        ("/api/rooms/r1/commands", b'{"cmd": "chat", "text": "\\udbff"}'),
    ):
        async with http.post(node.url + path, data=body, headers=auth) as resp:
            assert resp.status == 400, await resp.text()
            assert (await resp.json())["error"]["code"] == "bad_frame"
    admin = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    body = b'{"id": "r2", "title": "\\ud800", "host": "x"}'
    async with http.post(node.url + "/api/rooms", data=body, headers=admin) as resp:
        assert resp.status == 400
    assert not await redis_client.exists(room_key("r2", "meta"))
    assert await redis_client.hlen(room_key("r1", "catalog")) == 0
    # a banned-word list stored before the rules (a JSON escape of a lone surrogate)
    await redis_client.set(room_key("r1", "words"), '["ok", "\\ud800", "bad\\udc00", 7]')
    async with running_node(node_url_redis(node), "node-b") as other:
        studio = await connect(http, other, name="Mia", token=token)
        assert studio.first["t"] == "snapshot"
        assert studio.first["banned_words"] == ["ok"]
        await studio.ws.close()
    assert tracebacks(caplog) == []


def node_url_redis(node: Node) -> str:
    return node.app[CONFIG].redis_url


async def test_odd_since_deep_frames_and_odd_tokens_are_answered_not_crashes(
    http: aiohttp.ClientSession, node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    await create_room(http, node)
    viewer = await connect(http, node, name="Eve")
    epoch = viewer.first["epoch"]
    for since in ("²", "٣", "9" * 5000, "-1", "1e3", " 1", "1" * 19):
        client = await connect(http, node, name="Odd", since=since, epoch=epoch)
        assert client.first["t"] == "snapshot" and client.first["recovered"] is False, since
        await client.ws.close()
    for vid in ("адмін.x", "v\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9.sig", "x" * 500):
        client = await connect(http, node, name="Odd", vid=vid)
        assert client.first["t"] == "snapshot" and client.first["you"]["vid"].startswith("v")
        await client.ws.close()
    # A host token offered as a subprotocol that is not the room's: 4001. (A ``token``
    # in the query is not read at all: host tokens never ride in a URL.)
    ws = await http.ws_connect(
        f"{node.url}/ws/r1", protocols=("livecart.v1.json", "livecart.auth.host_nope")
    )
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4001
    ws = await http.ws_connect(f"{node.url}/ws/r1", params={"token": "токен"})
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.TEXT and '"role":"viewer"' in msg.data
    await ws.close()
    deep = "[" * 7000 + "]" * 7000  # under the 16 KiB frame limit
    reply = await raw_reply(viewer, deep)
    assert reply["error"]["code"] == "bad_frame"  # type: ignore[index]
    deep_obj = '{"id": 1, "cmd": "chat", "text": ' + "[" * 7000 + "]" * 7000 + "}"
    reply = await raw_reply(viewer, deep_obj)
    assert reply["error"]["code"] == "bad_frame"  # type: ignore[index]
    huge = '{"id": 1, "cmd": "heart", "n": ' + "9" * 5000 + "}"
    reply = await raw_reply(viewer, huge)
    assert reply["error"]["code"] == "bad_frame"  # type: ignore[index]
    reply = await raw_reply(viewer, '{"id": 1, "cmd": "heart", "n": 1e999}')
    assert reply["error"]["code"] == "bad_args"  # type: ignore[index]
    packed = b"\x91" * 5000 + b"\xc0"  # 5,000 nested MessagePack arrays
    mp = await connect(http, node, name="Pat", fmt="livecart.v1.msgpack")
    reply = await raw_reply(mp, packed)
    assert reply["error"]["code"] == "bad_frame"  # type: ignore[index]
    assert not viewer.ws.closed and not mp.ws.closed
    assert (await viewer.command("ping"))["ok"]
    admin = {"Authorization": f"Bearer {ADMIN}"}
    body = b"[" * 100_000 + b"]" * 100_000
    async with http.post(f"{node.url}/api/rooms", data=body, headers=admin) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "bad_frame"
    for raw in ("адмін".encode(), "токен".encode(), b"\xff\xfe"):
        headers = {"Authorization": "Bearer " + raw.decode("latin-1")}
        for method, path in (("GET", "/api/rooms/r1/orders.csv"), ("DELETE", "/api/rooms/r1/pin")):
            async with http.request(method, node.url + path, headers=headers) as resp:
                assert resp.status == 401, (path, await resp.text())
        sdp = {**headers, "Content-Type": "application/sdp"}
        async with http.post(f"{node.url}/whip/r1", data=b"v=0", headers=sdp) as resp:
            assert resp.status == 401
    assert tracebacks(caplog) == []


FORMULAS = [
    '=HYPERLINK("http://x.example")',  # names are cut to 32 characters
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1)",
    "=1+1",
]


async def test_orders_csv_neutralises_formula_prefixes(
    http: aiohttp.ClientSession, node: Node
) -> None:
    token = await create_room(http, node)
    host = await connect(http, node, name="Mia", token=token)
    added = await host.command("add_product", name="=Scarf", price=100, currency="CNY", stock=9)
    pid = added["data"]["product"]["id"]
    sale = await host.command(
        "open_sale", product_id=pid, price=100, currency="CNY", units=9, limit=1
    )
    assert sale["ok"], sale
    for i, name in enumerate(FORMULAS):
        buyer = await connect(http, node, name=name)
        assert buyer.first["you"]["name"] == name
        held = await buyer.command("buy", product_id=pid, qty=1, key=f"buy-key-{i:04}")
        assert held["ok"], held
        reservation = held["data"]["reservation"]["id"]
        paid = await buyer.command(
            "pay", reservation_id=reservation, card=CARD_OK, key=f"pay-key-{i:04}"
        )
        assert paid["ok"], paid
        await buyer.ws.close()
    auth = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{node.url}/api/rooms/r1/orders.csv", headers=auth) as resp:
        assert resp.status == 200
        text = await resp.text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["buyer_name"] for r in rows) == sorted("'" + n for n in FORMULAS)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row
    async with http.get(f"{node.url}/api/rooms/r1/orders.json", headers=auth) as resp:
        orders = (await resp.json())["orders"]
    assert sorted(o["buyer_name"] for o in orders) == sorted(FORMULAS)  # data kept as is
