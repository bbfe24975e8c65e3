"""The hub end to end: real nodes on random ports, real WebSockets, one real Redis and
a Redis Cluster (``two_nodes`` runs each test on both)."""

from __future__ import annotations

import contextlib

import aiohttp

from livecart import client
from livecart.redis_client import AnyRedis
from tests.hubclient import Node, connect, create_room, running_node
from tests.roomclient import is_chat, until, until_state


async def host_chat(http: aiohttp.ClientSession, node: Node, token: str, text: str) -> int:
    async with http.post(
        f"{node.url}/api/rooms/r1/commands",
        json={"cmd": "chat", "text": text},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        seq: int = (await resp.json())["data"]["seq"]
        return seq


async def test_chat_pin_and_viewer_count_cross_nodes(
    http: aiohttp.ClientSession, two_nodes: tuple[Node, Node]
) -> None:
    a, b = two_nodes
    token = await create_room(http, a)
    async with contextlib.AsyncExitStack() as stack:
        join = stack.enter_async_context
        host = await join(client.connect(a.url, "r1", name="Mia", token=token))
        assert host.you.is_host and host.snapshot.recovered is False
        pid = (await host.add_product("Scarf", 12900, "CNY", stock=5))["id"]
        on_a = await join(client.connect(a.url, "r1", name="Ann"))
        on_b = [await join(client.connect(b.url, "r1", name=f"Bo{i}")) for i in range(2)]
        assert on_b[0].snapshot.lineup == (pid,)
        await on_a.chat("  hello from A  ")
        for viewer in on_b:
            chat = await until(viewer, is_chat("hello from A"))
            assert isinstance(chat, client.ChatMessage) and chat.user.name == "Ann"
        await host.pin(pid)
        pinned = await until(on_b[1], lambda e: isinstance(e, client.Pinned))
        assert isinstance(pinned, client.Pinned) and pinned.product_id == pid
        assert on_b[1].state.pinned == pid
        # 1 viewer (+ the host, not counted) on A, 2 viewers on B: every node reports 3.
        for room in (on_a, on_b[0]):
            await until_state(room, lambda r=room: r.state.live.get("viewers") == 3)


async def test_resume_replays_exactly_the_missed_events(
    http: aiohttp.ClientSession,
    two_nodes: tuple[Node, Node],
    any_redis: AnyRedis,
    redis_url: str,
) -> None:
    a, b = two_nodes
    token = await create_room(http, a)
    viewer = await connect(http, a, name="Ann", fmt="livecart.v1.msgpack")
    await host_chat(http, a, token, "before")
    await viewer.wait_for(lambda c: c.chat_texts() == ["before"])
    assert (await viewer.command("chat", text="msgpack works"))["ok"]
    await viewer.wait_for(lambda c: c.chat_texts() == ["before", "msgpack works"])
    since, epoch, vid = viewer.seq, viewer.first["epoch"], viewer.first["you"]["token"]
    await viewer.ws.close()
    sent = [await host_chat(http, b, token, f"missed {i}") for i in range(20)]
    back = await connect(
        http, a, name="Ann", fmt="livecart.v1.msgpack", since=since, epoch=epoch, vid=vid
    )
    assert back.first["t"] == "resume" and back.first["recovered"] is True
    # the resume replays what node a had applied when the viewer came back; what was
    # still on its way from node b follows in the next batches: in order, once each
    await back.wait_for(lambda c: c.seq >= since + 20)
    replayed = back.first["events"] + back.events
    assert [e["seq"] for e in replayed] == sent == list(range(since + 1, since + 21))
    assert [e["text"] for e in replayed] == [f"missed {i}" for i in range(20)]
    assert back.first["you"]["vid"] == viewer.first["you"]["vid"]
    await back.ws.close()
    # History gone (and this node never saw the room): a fresh snapshot, never a gap.
    await any_redis.delete("lc:{r1}:history")
    async with running_node(redis_url, "node-c") as c:
        late = await connect(http, c, name="Ann", since=since, epoch=epoch, vid=vid)
        assert late.first["t"] == "snapshot" and late.first["recovered"] is False
        assert late.first["seq"] == since + 20
        await late.ws.close()
    # A wrong epoch also gets a snapshot.
    other = await connect(http, a, name="Ann", since=since, epoch="not-the-epoch")
    assert other.first["t"] == "snapshot" and other.first["recovered"] is False
    await other.ws.close()
