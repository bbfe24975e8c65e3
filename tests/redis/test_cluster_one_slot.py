"""Every Lua script touches one slot: checked on a real Redis Cluster, not assumed.

Redis 7.0 refuses a script's key only when another node serves it; a key of another
slot on the same node goes through. So the test watches the room's master with MONITOR
while every script runs (all of checkout's and the room store's), and asks Redis
(``COMMAND GETKEYS``) for the keys of each command a script issued: every one must be in
the room's slot. A last check proves the watch catches a script that strays.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
import redis.asyncio as aioredis

from livecart.chat import events as ev
from livecart.chat import store_redis
from livecart.chat.store_redis import RedisRoomStore
from livecart.checkout.auctions import AuctionTerms
from livecart.checkout.errors import CheckoutError
from livecart.checkout.sandbox import APPROVE_CARD, DECLINE_CARD, SandboxProvider
from livecart.checkout.scripts import NAMES, source
from livecart.checkout.service import CheckoutService
from livecart.keyspace import room_prefix
from livecart.local_cluster import LocalRedisCluster
from livecart.redis_client import AnyRedis, cluster_client
from tests.redis.test_checkout_service import FakeClock

ROOM = "slotted"
LINE = re.compile(r"^\+?[\d.]+ \[(\d+) ([^\]]+)\] (.*)$")


@contextmanager
def monitor(port: int) -> Iterator[list[tuple[str, list[str]]]]:
    """Every command the server on ``port`` runs meanwhile, as (source, args)."""
    seen: list[tuple[str, list[str]]] = []
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"MONITOR\r\n")
    stop = threading.Event()

    def read() -> None:
        buf = b""
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                chunk = sock.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                return
            buf += chunk
            *lines, buf = buf.split(b"\r\n")
            for raw in lines:
                match = LINE.match(raw.decode(errors="replace"))
                if match:
                    args = re.findall(r'"((?:[^"\\]|\\.)*)"', match.group(3))
                    seen.append(
                        (match.group(2), [a.encode().decode("unicode_escape") for a in args])
                    )

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        import time

        time.sleep(0.3)  # let the last lines arrive
        stop.set()
        thread.join(5)
        sock.close()


def keys_of(node: redis.Redis, args: list[str]) -> list[bytes]:
    """The keys (and shard channel) of one command, as Redis itself finds them."""
    if args[0].upper() == "SPUBLISH":
        return [args[1].encode()]
    if args[0].upper() == "TIME":  # Redis' clock (auctions, chat budgets): no keys
        return []
    try:
        keys: list[bytes] = node.command_getkeys(*args)
    except redis.ResponseError as exc:
        if "no key arguments" in str(exc):
            return []
        raise
    return keys


def sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


async def every_script(client: AnyRedis) -> None:
    """Run each checkout script and each room-store script at least once."""
    clock = FakeClock()
    provider = SandboxProvider(latency=0.0, timeout=0.05)
    svc = CheckoutService(client, provider, clock=clock, charge_timeout=1.0)
    store = RedisRoomStore(client, "node-slot")
    assert await store.create_room(
        ROOM, title="T", host="Mia", host_token_hash="h", commission_rate=0.1
    )
    await svc.init_stock(ROOM, "p1", 10)  # stock
    await svc.add_stock(ROOM, "p1", 2, key="add-key-1")  # stock
    await svc.open_sale(ROOM, "p1", price=900, currency="CNY", units=6, limit=3)  # sale
    buys = [
        await svc.buy(ROOM, "p1", buyer_vid=f"v{i}", buyer_name="B", qty=1, key=f"buy-key-{i}")
        for i in range(3)
    ]  # reserve_many
    await svc.pay(
        ROOM, buys[0]["id"], buyer_vid="v0", card=APPROVE_CARD, key="pay-key-0"
    )  # pay_begin, confirm
    with pytest.raises(CheckoutError):
        await svc.pay(
            ROOM, buys[1]["id"], buyer_vid="v1", card=DECLINE_CARD, key="pay-key-1"
        )  # release
    slow = SandboxProvider(latency=0.3)
    late = CheckoutService(client, slow, clock=clock, charge_timeout=2.0)
    paying = asyncio.create_task(
        late.pay(ROOM, buys[2]["id"], buyer_vid="v2", card=APPROVE_CARD, key="pay-key-2")
    )
    await asyncio.sleep(0.1)
    clock.advance(301)
    await svc.sweep(ROOM)  # sweep
    with pytest.raises(CheckoutError):
        await paying  # approved after expiry: refunded (refund_done)
    await svc.snapshot(ROOM)  # snapshot
    assert await svc.audit(ROOM) == []  # audit
    await svc.close_sale(ROOM, "p1")  # sale
    await store.emit(ROOM, ev.Pinned(product_id=None))  # emit
    await store.set_banned_words(ROOM, ["x"])  # emit, unsequenced
    await store.add_hearts({ROOM: 2})  # hearts
    await store.presence(ROOM, 3)  # presence
    await store.explain(ROOM, "p1", "v1")  # explain
    # An auction and a giveaway: Redis' own clock decides, so real (short) durations.
    terms = AuctionTerms(
        product_id="p1", currency="CNY", start_price=500, duration_ms=300, counter_ms=0
    )
    lot = await svc.auctions.start(ROOM, terms, "start-key-1")  # auction_start
    await svc.auctions.bid(
        ROOM, lot["id"], vid="v1", name="B", max_bid=900, key="bid-key-1", card=APPROVE_CARD
    )  # auction_bid
    await asyncio.sleep(0.4)
    assert (await svc.auctions.close(ROOM, lot["id"])).changed  # auction_close
    await svc.auctions.settle(ROOM, lot["id"])
    prize = await svc.auctions.start_giveaway(
        ROOM, {"product_id": "p1", "rule": "chatted"}, "CNY", duration_ms=200
    )  # giveaway
    await svc.auctions.enter(ROOM, prize["id"], [("v1", "B")])
    await asyncio.sleep(0.3)
    await svc.auctions.draw(ROOM, prize["id"])
    assert await svc.audit(ROOM) == []


async def test_every_script_touches_only_the_rooms_slot(redis_cluster: LocalRedisCluster) -> None:
    redis_cluster.wait_healthy(30)
    client = cluster_client(redis_cluster.url)  # livecart's: confirm waits for a replica
    plain = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        await client.flushall(target_nodes=aioredis.RedisCluster.PRIMARIES)
        port = redis_cluster.port_of_key(room_prefix(ROOM))
        with monitor(port) as seen:
            await every_script(client)
        slot = plain.keyslot(room_prefix(ROOM))
        by_sha = {sha(source(n)): n for n in NAMES}
        for name in store_redis.SCRIPTS:
            by_sha[sha(store_redis.source(name, cluster=True))] = name
        ran = set()
        for _, args in seen:
            if args and args[0].upper() == "EVALSHA":
                ran.add(by_sha.get(args[1], args[1]))
            elif args and args[0].upper() == "EVAL":  # confirm, waiting for a replica
                ran.update(n for n in NAMES if f"-- {n}.lua" in args[1])
        assert ran >= {*NAMES, "emit", "add_hearts", "presence", "explain"}, ran
        on_node = redis.Redis(port=port)
        from_scripts = [args for src, args in seen if src == "lua"]
        assert len(from_scripts) > 50
        for args in from_scripts:
            for key in keys_of(on_node, args):
                assert plain.keyslot(key) == slot, (args, key)
    finally:
        await client.aclose()
        plain.close()


async def test_the_watch_catches_a_script_that_strays(redis_cluster: LocalRedisCluster) -> None:
    """The check above would see a key of another slot on the same node."""
    redis_cluster.wait_healthy(30)
    plain = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        port = redis_cluster.port_of_key(room_prefix(ROOM))
        stray = next(
            f"lc:{{x{i}}}" for i in range(1000) if redis_cluster.port_of_key(f"lc:{{x{i}}}") == port
        )
        with monitor(port) as seen:
            plain.eval("return redis.call('GET', ARGV[1])", 1, room_prefix(ROOM), stray)
        [args] = [a for src, a in seen if src == "lua"]
        [key] = keys_of(redis.Redis(port=port), args)
        assert plain.keyslot(key) != plain.keyslot(room_prefix(ROOM))
    finally:
        plain.close()
