"""Redis goes away and comes back: viewers stay connected, chat works again by itself."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from livecart.redis_process import RedisProcess
from tests.hubclient import Node, connect, create_room


@pytest.mark.parametrize("redis_url", ["redis"], indirect=True)  # restarts the one Redis
async def test_redis_restart_keeps_viewers_and_recovers(
    http: aiohttp.ClientSession, two_nodes: tuple[Node, Node], redis_server: RedisProcess
) -> None:
    a, b = two_nodes
    await create_room(http, a)
    ann = await connect(http, a, name="Ann")
    bo = await connect(http, b, name="Bo")
    assert (await ann.command("chat", text="before"))["ok"]
    await bo.wait_for(lambda c: c.chat_texts() == ["before"])

    await asyncio.to_thread(redis_server.kill)
    try:
        down = await ann.command("chat", text="while down", timeout=15)
        assert down["ok"] is False and down["error"]["code"] == "unavailable"
        assert (await bo.command("ping"))["ok"]  # still connected, still served
        async with http.get(f"{a.url}/healthz") as resp:
            assert resp.status == 503
    finally:
        await asyncio.to_thread(redis_server.start)

    deadline = time.monotonic() + 15
    while True:
        reply = await ann.command("chat", text="after", timeout=15)
        if reply["ok"]:
            break
        assert reply["error"]["code"] in ("unavailable", "rate_limited"), reply
        assert time.monotonic() < deadline, "chat did not recover within 15 s"
        await asyncio.sleep(0.5)
    recovered_in = 15 - (deadline - time.monotonic())
    await bo.wait_for(lambda c: "after" in c.chat_texts(), timeout=10)
    assert bo.chat_texts() == ["before", "after"]  # nothing duplicated, nothing invented
    assert not ann.ws.closed and not bo.ws.closed
    assert recovered_in < 15
    # Redis came back with everything (AOF always): the nodes checked their last event
    # against the restarted server's history and kept their rooms, no needless snapshot.
    for client in (ann, bo):
        assert [f for f in client.frames if f["t"] == "snapshot"] == [client.first]
    # Both ways, and a joiner on either node sees the same history.
    assert (await bo.command("chat", text="from b"))["ok"]
    await ann.wait_for(lambda c: "from b" in c.chat_texts(), timeout=10)
    late = await connect(http, b, name="Late")
    assert [m["text"] for m in late.first["chat"]] == ["before", "after", "from b"]
    for client in (ann, bo, late):
        await client.ws.close()
