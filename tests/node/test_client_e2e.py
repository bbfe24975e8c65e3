"""``livecart.client`` against a real node and a real Redis: both subprotocols, replies
and documented errors, host commands, resuming after the server drops the socket, and
the example bot of docs/python-client.md."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import aiohttp
import pytest

from livecart import client
from livecart.web.keys import HUB
from tests.hubclient import Node, create_room
from tests.roomclient import chat_texts, is_chat, until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("subprotocol", ["json", "msgpack"])
async def test_chat_round_trip_on_either_subprotocol(
    http: aiohttp.ClientSession, node: Node, subprotocol: str
) -> None:
    token = await create_room(http, node)
    async with (
        client.connect(node.url, "r1", token=token, subprotocol=subprotocol) as host,
        client.connect(node.url, "r1", name="Ann", subprotocol=subprotocol) as ann,
    ):
        assert host.you.is_host and host.you.name == "Mia"
        assert ann.snapshot.room.title == "Test show" and ann.you.name == "Ann"
        assert ann.snapshot.recovered is False and ann.snapshot.banned_words is None
        assert host.snapshot.banned_words == ()
        seq = await ann.chat("  hello  ")
        chat = await until(host, is_chat("hello"))
        assert isinstance(chat, client.ChatMessage)
        assert chat.seq == seq and chat.user == client.ChatUser(ann.you.vid, "Ann", "viewer")
        assert await ann.ping() > 0
        assert host.state.chat[-1] == chat and host.state.seq == seq


async def test_refusals_raise_the_documented_codes(http: aiohttp.ClientSession, node: Node) -> None:
    await create_room(http, node)
    async with client.connect(node.url, "r1", name="Ann", subprotocol="msgpack") as ann:
        with pytest.raises(client.CommandError) as too_long:
            await ann.chat("x" * 281)
        assert too_long.value.code == client.ErrorCode.TEXT_TOO_LONG
        with pytest.raises(client.CommandError, match="forbidden"):
            await ann.pin("p1")
        with pytest.raises(client.CommandError) as unknown:
            await ann.command("launch_rockets")
        assert unknown.value.code == "bad_command"
        for _ in range(3):
            await ann.heart()
        assert ann.connected
    with pytest.raises(client.Closed) as wrong:
        await client.connect(node.url, "r1", token="host_wrong")
    assert wrong.value.code == client.CloseCode.UNAUTHORIZED
    with pytest.raises(client.Closed) as missing:
        await client.connect(node.url, "nosuchroom")
    assert missing.value.code == client.CloseCode.NO_SUCH_ROOM


async def test_host_commands_with_the_token(http: aiohttp.ClientSession, node: Node) -> None:
    token = await create_room(http, node)
    async with (
        client.connect(node.url, "r1", token=token) as host,
        client.connect(node.url, "r1", name="Ann") as ann,
    ):
        product = await host.add_product("Scarf", 12900, "CNY", stock=5)
        await host.pin(product["id"])
        pinned = await until(ann, lambda e: isinstance(e, client.Pinned))
        assert isinstance(pinned, client.Pinned) and pinned.product_id == product["id"]
        assert ann.state.pinned_product == product and ann.state.lineup == [product["id"]]
        seq = await ann.chat("hi")
        await host.delete(seq)
        deleted = await until(ann, lambda e: isinstance(e, client.ChatDeleted))
        assert isinstance(deleted, client.ChatDeleted) and deleted.id == seq
        assert ann.state.chat == []
        await host.slow_mode(30)
        changed = await until(ann, lambda e: isinstance(e, client.RoomChanged))
        assert isinstance(changed, client.RoomChanged) and ann.state.room.slow_mode == 30
        await host.slow_mode(0)
        await host.mute(ann.you.vid)
        await until(ann, lambda e: isinstance(e, client.Moderated))
        assert ann.state.you.muted
        with pytest.raises(client.CommandError, match="muted"):
            await ann.chat("hello?")
        await host.ban(ann.you.vid)
        with pytest.raises(client.Closed) as banned:
            await until(ann, lambda e: False)
        assert banned.value.code == client.CloseCode.BANNED
        with pytest.raises(client.Closed):
            await ann.chat("still there?")


async def host_chat(http: aiohttp.ClientSession, node: Node, token: str, text: str) -> None:
    """The host's chat through the HTTP API (not rate limited like a socket's)."""
    async with http.post(
        f"{node.url}/api/rooms/r1/commands",
        json={"cmd": "chat", "text": text},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("drop", ["close", "abort"])
async def test_resume_after_the_server_drops_the_socket(
    http: aiohttp.ClientSession, node: Node, drop: str
) -> None:
    """The server drops the viewer (a 1001 close, or the TCP connection cut without a
    close frame) while the host keeps chatting: the viewer reconnects by itself, resumes,
    and sees every message once, in order."""
    token = await create_room(http, node)
    backoff = client.Backoff(first=0.3)
    async with client.connect(node.url, "r1", name="Ann", backoff=backoff) as ann:
        sent = ["before"]
        await host_chat(http, node, token, "before")
        seen: list[client.Event] = []
        await until(ann, is_chat("before"), seen=seen)
        room = node.app[HUB].loaded("r1")
        assert room is not None
        (session,) = [s for s in room.sessions if s.vid == ann.you.vid]
        if drop == "close":
            session.close(client.CloseCode.GOING_AWAY, "going away")
        else:
            session.transport.abort()
        for i in range(10):  # while the viewer is away: it comes back no sooner than 0.3 s
            sent.append(f"missed {i}")
            await host_chat(http, node, token, sent[-1])
        lost = await until(ann, lambda e: isinstance(e, client.ConnectionLost), seen=seen)
        assert isinstance(lost, client.ConnectionLost)
        assert lost.code == (1001 if drop == "close" else 1006)
        resumed = await until(ann, lambda e: isinstance(e, client.Resumed), seen=seen)
        assert isinstance(resumed, client.Resumed) and resumed.you.vid == ann.you.vid
        for i in range(5):
            sent.append(f"after {i}")
            await host_chat(http, node, token, sent[-1])
        await until(ann, is_chat("after 4"), seen=seen)
        assert chat_texts(seen) == sent
        seqs = [e.seq for e in seen if isinstance(e, client.RoomEvent)]
        assert seqs == list(range(seqs[0], seqs[0] + len(sent)))
        assert resumed.seq > resumed.since  # the resume replayed what it missed
        assert not any(isinstance(e, client.Reset) for e in seen)
        assert ann.state.seq == seqs[-1] and ann.connected
        assert await ann.chat("back") > seqs[-1]


async def test_the_example_bot_answers_price(http: aiohttp.ClientSession, node: Node) -> None:
    spec = importlib.util.spec_from_file_location("price_bot", EXAMPLES / "price_bot.py")
    assert spec is not None and spec.loader is not None
    price_bot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(price_bot)
    token = await create_room(http, node)
    async with client.connect(node.url, "r1", token=token) as host:
        product = await host.add_product("Silk scarf", 12900, "CNY", stock=5)
        await host.pin(product["id"])
        bot = asyncio.create_task(price_bot.run(node.url, "r1"))
        async with client.connect(node.url, "r1", name="Ann") as ann:
            room = node.app[HUB].loaded("r1")
            assert room is not None
            async with asyncio.timeout(5):
                while len(room.sessions) < 3:  # the host, Ann and the bot
                    await asyncio.sleep(0.01)
            await ann.chat("price?")
            answer = await until(
                ann, lambda e: isinstance(e, client.ChatMessage) and e.user.name == "PriceBot"
            )
            assert isinstance(answer, client.ChatMessage)
            assert answer.text == "Silk scarf: 129.00 CNY"
        bot.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bot
