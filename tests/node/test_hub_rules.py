"""Chat rules, moderation, hearts and the explain queue through a real node: the wiring
(frames in, replies and events out, sockets closed). Every rule case on its own is in the
pure tests of ``test_chat_decisions.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import aiohttp
import pytest

from livecart import client
from tests.hubclient import Client, Node, connect, create_room
from tests.roomclient import is_chat, until


async def _room(http: aiohttp.ClientSession, node: Node) -> tuple[Client, Client, str]:
    token = await create_room(http, node)
    host = await connect(http, node, name="Mia", token=token)
    viewer = await connect(http, node, name="Ann")
    return host, viewer, token


async def refused(call: Awaitable[Any]) -> client.CommandError:
    """The ``CommandError`` that awaiting ``call`` raises."""
    with pytest.raises(client.CommandError) as error:
        await call
    return error.value


def _code(reply: dict[str, object]) -> object:
    assert reply["ok"] is False, reply
    return reply["error"]["code"]  # type: ignore[index]


async def test_bad_input_gets_documented_errors_and_changes_nothing(
    http: aiohttp.ClientSession, node: Node
) -> None:
    host, viewer, _ = await _room(http, node)
    seq_before = viewer.seq
    await viewer.ws.send_str("{not json")
    assert _code(await viewer.recv()) == "bad_frame"
    await viewer.ws.send_str("[1, 2]")
    assert _code(await viewer.recv()) == "bad_frame"
    await viewer.ws.send_bytes(b"\xc1\x00binary on json")
    assert _code(await viewer.recv()) == "bad_frame"
    assert _code(await viewer.command("launch_rockets")) == "bad_command"
    assert _code(await viewer.command("chat")) == "bad_args"
    assert _code(await viewer.command("chat", text="x" * 281)) == "text_too_long"
    assert _code(await viewer.command("chat", text="   ")) == "text_empty"
    assert _code(await viewer.command("chat", text="bell\x07")) == "text_invalid"
    assert _code(await viewer.command("pin", product_id="p1")) == "forbidden"
    assert _code(await viewer.command("ban", vid=host.first["you"]["vid"])) == "forbidden"
    assert _code(await viewer.command("heart", n=10_000)) == "bad_args"
    assert _code(await host.command("add_product", name="", price=1, currency="CNY", stock=1)) == (
        "bad_args"
    )
    assert _code(
        await host.command("add_product", name="A", price=-1, currency="CNY", stock=1)
    ) == ("bad_args")
    assert _code(await host.command("pin", product_id="nope")) == "not_found"
    assert _code(await viewer.command("explain", product_id="nope")) == "not_found"
    # msgpack garbage on a msgpack socket
    mp = await connect(http, node, name="Bin", fmt="livecart.v1.msgpack")
    await mp.ws.send_bytes(b"\xc1\xc1\xc1")
    assert _code(await mp.recv()) == "bad_frame"
    await mp.ws.send_str("text on msgpack")
    assert _code(await mp.recv()) == "bad_frame"
    # Oversized frame: the documented close code, and the server stays up.
    await viewer.ws.send_str('{"cmd":"chat","text":"' + "y" * 20_000 + '"}')
    msg = await viewer.ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert viewer.ws.close_code == 1009
    # Nothing changed: no event was sequenced by any of the above.
    fresh = await connect(http, node, name="Late")
    assert fresh.first["seq"] == seq_before
    assert fresh.first["chat"] == [] and fresh.first["lineup"] == []
    for c in (host, mp, fresh):
        await c.ws.close()


async def test_unknown_room_and_wrong_host_token_close_with_codes(
    http: aiohttp.ClientSession, node: Node
) -> None:
    await create_room(http, node)
    ws = await http.ws_connect(f"{node.url}/ws/nosuchroom")
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4004
    ws = await http.ws_connect(
        f"{node.url}/ws/r1", protocols=("livecart.v1.json", "livecart.auth.host_wrong")
    )
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4001
    async with http.post(f"{node.url}/api/rooms", json={"title": "x", "host": "y"}) as resp:
        assert resp.status == 401
    async with http.post(
        f"{node.url}/api/rooms/r1/products",
        json={"name": "A", "price": 1, "currency": "CNY", "stock": 1},
        headers={"Authorization": "Bearer wrong"},
    ) as resp:
        assert resp.status == 401


async def test_rate_limit_slow_mode_mute_ban_words_delete(
    http: aiohttp.ClientSession, node: Node
) -> None:
    token = await create_room(http, node)
    async with (
        client.connect(node.url, "r1", name="Mia", token=token) as host,
        client.connect(node.url, "r1", name="Ann") as viewer,
    ):
        # Token bucket: a burst of 3, then rate_limited with a retry hint.
        for i in range(3):
            await viewer.chat(f"m{i}")
        limited = await refused(viewer.chat("m3"))
        assert limited.code == "rate_limited" and (limited.retry_after or 0) > 0
        # Banned words: refused as a whole word, case-insensitively.
        await host.banned_words(["Fake", "scam"])
        await asyncio.sleep(1.1)
        assert (await refused(viewer.chat("this is a SCAM!"))).code == "blocked_word"
        await viewer.chat("scampi is fine")
        # Slow mode.
        await host.slow_mode(30)
        await asyncio.sleep(1.1)
        slow = await refused(viewer.chat("again"))
        assert slow.code == "slow_mode" and (slow.retry_after or 0) > 25
        await host.chat("host is exempt")
        await host.slow_mode(0)
        # Delete a message: everyone gets chat_deleted, late joiners do not see it.
        m0 = await until(host, is_chat("m0"))
        await host.delete(m0.seq)  # type: ignore[union-attr]
        await until(viewer, lambda e: isinstance(e, client.ChatDeleted))
        async with client.connect(node.url, "r1", name="Late") as late:
            texts = [m.text for m in late.snapshot.chat if isinstance(m, client.ChatMessage)]
            assert "m0" not in texts and "m1" in texts
        # Mute, then ban (which closes the viewer's socket with 4003 and refuses rejoin).
        vid = viewer.you.vid
        await host.mute(vid)
        await until(viewer, lambda e: isinstance(e, client.Moderated))
        assert (await refused(viewer.chat("hello?"))).code == "muted"
        await host.ban(vid)
        with pytest.raises(client.Closed) as banned:
            await until(viewer, lambda e: False)
        assert banned.value.code == 4003
        with pytest.raises(client.Closed) as again:
            await client.connect(node.url, "r1", viewer_token=viewer.you.token)
        assert again.value.code == 4003


async def test_hearts_are_aggregated_and_explain_queue_ranks(
    http: aiohttp.ClientSession, node: Node
) -> None:
    host, viewer, _ = await _room(http, node)
    p1 = await host.command("add_product", name="A", price=100, currency="CNY", stock=3)
    p2 = await host.command("add_product", name="B", price=200, currency="CNY", stock=3)
    pid1, pid2 = p1["data"]["product"]["id"], p2["data"]["product"]["id"]
    frames_before = len(host.frames)
    for _ in range(30):
        await viewer.send({"cmd": "heart", "n": 1})
    await host.wait_for(lambda c: sum(f.get("live", {}).get("hearts", 0) for f in c.frames) >= 30)
    heart_frames = [f for f in host.frames[frames_before:] if f.get("live", {}).get("hearts")]
    assert sum(f["live"]["hearts"] for f in heart_frames) == 30
    assert len(heart_frames) < 30  # aggregated per tick, not one event per tap
    await asyncio.sleep(1.2)  # a presence round: the total is read back, never counted twice
    late = await connect(http, node, name="Late")
    assert late.first["live"]["hearts_total"] == 30
    await late.ws.close()
    # Explain requests count once per client address: three viewers on three loopback
    # addresses (127.0.0.2-4), each its own client.
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(f"127.0.0.{i}", 0)))
        for i in (2, 3, 4)
    ]
    others = [await connect(s, node, name=f"V{i}") for i, s in enumerate(sessions)]
    for other in others:
        assert (await other.command("explain", product_id=pid2))["data"]["requests"] >= 1
    assert (await viewer.command("explain", product_id=pid1))["data"]["requests"] == 1
    assert (await viewer.command("explain", product_id=pid1))["data"]["requests"] == 1  # deduped
    await host.wait_for(lambda c: c.live.get("explain") == [[pid2, 3], [pid1, 1]], timeout=4)
    assert (await host.command("pin", product_id=pid2))["ok"]
    await host.wait_for(lambda c: c.live.get("explain") == [[pid1, 1]], timeout=4)
    assert (await host.command("dismiss", product_id=pid1))["ok"]
    await host.wait_for(lambda c: c.live.get("explain") == [], timeout=4)
    for c in (host, viewer, *others):
        await c.ws.close()
    for s in sessions:
        await s.close()
