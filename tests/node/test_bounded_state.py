"""A flood of refused buys leaves Redis bounded: a real node, 50 real WebSockets.

After a sale sells out, 50 sockets send buys with fresh idempotency keys as fast as
their command budget allows. Each refusal used to become a key kept for 24 h (~600 B
each); now refusals go to the room's bounded ``refused`` hash (``checkout.bounds``).
The test states its bound and checks it with ``INFO memory`` and ``DBSIZE``, and that
the books still balance.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets

import aiohttp
import redis.asyncio as aioredis

from livecart.checkout import bounds
from livecart.web.show_api import CHECKOUT
from tests.hubclient import Client, Node, connect, create_room

SOCKETS = 50
WARM_UP = 8  # buys per socket before measuring: pools and buffers reach their size
FLOOD = 30  # buys per socket measured (the command budget is a burst of 40)
BYTES_PER_REFUSAL = 400  # key, fingerprint and reply in the hash, plus its index entry
SLACK = 256 * 1024  # allocator and client-buffer noise of a running Redis

_ids = itertools.count(1_000_000)


async def burst(client: Client, pid: str, n: int) -> list[str]:
    """Send ``n`` buys with fresh keys without waiting, then collect every reply."""
    ids = []
    for _ in range(n):
        cid = next(_ids)
        ids.append(cid)
        await client.send(
            {"id": cid, "cmd": "buy", "product_id": pid, "qty": 1, "key": secrets.token_hex(8)}
        )
    while not all(cid in client.replies for cid in ids):
        await client.recv(10)
    return [client.replies.pop(cid)["error"]["code"] for cid in ids]


async def memory(redis: aioredis.Redis) -> tuple[int, int, set[bytes]]:
    """``used_memory``, what the room's refusals take (``MEMORY USAGE`` of the hash and
    its index) and the keys."""
    info = await redis.info("memory")
    refusals = 0
    for name in ("lc:{r1}:refused", "lc:{r1}:refused_at"):
        refusals += int(await redis.memory_usage(name, samples=0) or 0)
    keys = set(await redis.keys("*")) - {b"lc:{r1}:presence"}  # the presence loop's, now and then
    return int(info["used_memory"]), refusals, keys


async def test_a_flood_of_refused_buys_leaves_redis_bounded(
    http: aiohttp.ClientSession, node: Node, redis_client: aioredis.Redis
) -> None:
    host = await connect(http, node, name="Mia", token=await create_room(http, node))
    added = await host.command("add_product", name="Tea", price=500, currency="CNY", stock=1)
    pid = added["data"]["product"]["id"]
    opened = await host.command(
        "open_sale", product_id=pid, price=300, currency="CNY", units=1, limit=1
    )
    assert opened["ok"]
    winner = await connect(http, node, name="Win")
    assert (await winner.command("buy", product_id=pid, qty=1, key="winner-key-1"))["ok"]

    flooders = await asyncio.gather(*(connect(http, node, name=f"f{i}") for i in range(SOCKETS)))
    warm = await asyncio.gather(*(burst(c, pid, WARM_UP) for c in flooders))
    assert {code for codes in warm for code in codes} == {"sold_out"}
    used_before, data_before, keys_before = await memory(redis_client)

    codes = await asyncio.gather(*(burst(c, pid, FLOOD) for c in flooders))
    refused = sum(code == "sold_out" for batch in codes for code in batch)
    assert refused >= SOCKETS * FLOOD * 0.9  # the rest, if any, were rate_limited
    assert {code for batch in codes for code in batch} <= {"sold_out", "rate_limited"}
    used_after, data_after, keys_after = await memory(redis_client)

    # no key per refusal: the room's refused hash and its index were there already
    assert keys_after == keys_before, sorted(keys_after ^ keys_before)
    # memory grows by at most the refusals' entries, and never past the per-room cap
    growth, data_growth = used_after - used_before, data_after - data_before
    assert growth <= refused * BYTES_PER_REFUSAL + SLACK, (growth, refused)
    assert data_after <= (SOCKETS * WARM_UP + refused) * BYTES_PER_REFUSAL, data_after
    assert await redis_client.hlen("lc:{r1}:refused") == SOCKETS * WARM_UP + refused
    assert SOCKETS * (WARM_UP + FLOOD) < bounds.REFUSALS_PER_ROOM  # this flood fits; more
    # would push the oldest out (tests/redis/test_checkout_buyers.py checks the cap)
    ttl = await redis_client.pttl("lc:{r1}:refused")
    assert 0 < ttl <= bounds.REFUSAL_KEEP_MS

    service = node.app[CHECKOUT]
    assert await service.audit("r1") == []
    assert (await service.stock("r1"))[pid] == {
        "initial": 1,
        "available": 0,
        "reserved": 1,
        "sold": 0,
    }
    print(
        f"{refused} refusals: used_memory {growth:+} B, the refusal keys {data_growth:+} B"
        f" ({data_after / (SOCKETS * WARM_UP + refused):.0f} B an entry),"
        f" DBSIZE {len(keys_before)} -> {len(keys_after)}"
    )
    for client in (*flooders, winner, host):  # before the node stops, not after
        await client.ws.close()
