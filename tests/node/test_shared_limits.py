"""Chat budgets and address bans hold across nodes (docs/security.md, "Connections"):
one client whose sockets land on two nodes behind a load balancer gets one budget, and
a ban seen on one node keeps its address out of the other. On one Redis and on a
Redis Cluster (``two_nodes``). Client addresses come from the loopback range."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from tests.hubclient import Client, Node, connect, create_room

pytestmark = pytest.mark.node


@asynccontextmanager
async def from_address(ip: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(ip, 0), limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def _burst(clients: list[Client], each: int) -> int:
    """Each client sends ``each`` messages (all clients at once); how many were accepted."""

    async def one(c: Client) -> int:
        replies = [await c.command("chat", text=f"hi {i}") for i in range(each)]
        return sum(1 for r in replies if r["ok"])

    return sum(await asyncio.gather(*(one(c) for c in clients)))


async def test_one_budget_for_a_client_on_two_nodes(
    two_nodes: tuple[Node, Node], http: aiohttp.ClientSession
) -> None:
    a, b = two_nodes
    await create_room(http, a)
    async with from_address("127.0.0.2") as one:
        # six fresh identities, three on each node, one address: 2 a second, bursts of 6
        fresh = [await connect(one, n, name=f"F{i}") for n in (a, b) for i in range(3)]
        start = time.monotonic()
        accepted = await _burst(fresh, 3)
        refilled = 2 * (time.monotonic() - start)
        assert 6 <= accepted <= 6 + refilled + 1, (accepted, refilled)
        for c in fresh:
            await c.ws.close()
    async with from_address("127.0.0.3") as same_client:
        # one identity, two sockets on each node: the viewer's bursts of 3
        first = await connect(same_client, a, name="Same")
        vid = first.first["you"]["token"]
        rest = [await connect(same_client, n, name="Same", vid=vid) for n in (a, b, b)]
        start = time.monotonic()
        accepted = await _burst([first, *rest], 3)
        refilled = 1 * (time.monotonic() - start)
        assert 3 <= accepted <= 3 + int(refilled), (accepted, refilled)
        refused = await rest[-1].command("chat", text="one more")
        assert refused["error"]["code"] == "rate_limited"
        assert 0 < refused["error"]["retry_after"] <= 1.0
        for c in (first, *rest):
            await c.ws.close()


async def _close_code(http: aiohttp.ClientSession, node: Node) -> int | None:
    """Join ``node`` as a fresh identity: the close code, or None when it got in."""
    ws = await http.ws_connect(f"{node.url}/ws/r1")
    msg = await ws.receive(timeout=5)
    if msg.type == aiohttp.WSMsgType.CLOSE:
        return int(msg.data)
    await ws.close()
    return None


async def test_a_ban_on_one_node_keeps_the_address_out_of_the_other(
    two_nodes: tuple[Node, Node], http: aiohttp.ClientSession
) -> None:
    a, b = two_nodes
    token = await create_room(http, a)
    host = await connect(http, a, token=token)
    async with from_address("127.0.0.4") as bad, from_address("127.0.0.5") as good:
        troll = await connect(bad, a, name="Troll")
        spare = await connect(bad, b, name="Spare")  # on the other node, before the ban
        honest = await connect(good, b, name="Ann")
        assert await _close_code(bad, b) is None  # nobody banned yet

        assert (await host.command("ban", vid=troll.first["you"]["vid"]))["ok"]
        with pytest.raises(ConnectionError):
            await troll.wait_for(lambda c: False, timeout=3)
        # node B never saw the troll, yet a fresh identity from its address is closed
        deadline = time.monotonic() + 3
        while (code := await _close_code(bad, b)) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert code == 4003
        # ...and a socket it opened there before the ban cannot chat
        refused = await spare.command("chat", text="still here")
        assert refused["error"]["code"] == "banned"
        assert (await honest.command("chat", text="hello"))["ok"]

        assert (await host.command("unban", vid=troll.first["you"]["vid"]))["ok"]
        await asyncio.sleep(0.3)
        assert await _close_code(bad, b) is None
        assert await _close_code(bad, a) is None
        assert (await spare.command("chat", text="back"))["ok"]
        for c in (spare, honest, host):
            await c.ws.close()
