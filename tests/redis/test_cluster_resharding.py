"""A room's slot moves to another master while the store writes and the feed listens.

During the move clients meet ASK and TRYAGAIN: every call either succeeds or raises the
contract's ``StoreUnavailable`` (bounded, never a hang, never another exception). After
it, the feed has followed the channel to the new master by itself (the server's
``sunsubscribe`` made it resubscribe and call ``on_reconnect``) and hears new events; the
checkout scripts run on the new owner; a master that is down gives ``unavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable
from pathlib import Path

from redis.asyncio.connection import AbstractConnection

from livecart.chat import events as ev
from livecart.chat.errors import StoreUnavailable
from livecart.chat.store_redis import RedisRoomStore
from livecart.checkout.errors import CheckoutError
from livecart.checkout.sandbox import SandboxProvider
from livecart.checkout.service import CheckoutService
from livecart.keyspace import room_prefix
from livecart.local_cluster import LocalRedisCluster
from livecart.redis_client import cluster_client
from tests.store_contract import USER, Heard


class Reconnects(Heard):
    def __init__(self) -> None:
        super().__init__()
        self.reconnects = 0

    async def on_reconnect(self) -> None:
        self.reconnects += 1


async def test_a_room_moving_shard_keeps_writes_bounded_and_the_feed_following(
    redis_cluster: LocalRedisCluster,
) -> None:
    redis_cluster.wait_healthy(30)
    redis_cluster.flushall()
    client = cluster_client(redis_cluster.url)
    store = RedisRoomStore(client, "node-r")
    checkout = CheckoutService(client, SandboxProvider())
    heard = Reconnects()
    feed = store.feed(heard)
    task = asyncio.create_task(feed.run())
    try:
        assert await store.create_room(
            "moving", title="T", host="Mia", host_token_hash="h", commission_rate=0.1
        )
        await checkout.init_stock("moving", "p1", 10)
        await feed.wait_connected(5)
        await feed.subscribe("moving")
        await store.emit("moving", ev.ChatMessage(ts=1.0, user=USER, text="before"))
        owner = redis_cluster.port_of_key(room_prefix("moving"))
        target = next(p for p in redis_cluster.master_ports() if p != owner)
        moving = asyncio.create_task(
            asyncio.to_thread(redis_cluster.move_slot, room_prefix("moving"), target, 0.6)
        )
        outcomes: list[str] = []
        while not moving.done():
            started = time.monotonic()
            try:
                await store.emit("moving", ev.ChatMessage(ts=1.0, user=USER, text="during"))
                outcomes.append("ok")
            except StoreUnavailable:
                outcomes.append("unavailable")
            assert time.monotonic() - started < 5  # bounded
            await asyncio.sleep(0.02)
        await moving
        assert redis_cluster.port_of_key(room_prefix("moving")) == target
        assert outcomes and set(outcomes) <= {"ok", "unavailable"}
        # The feed follows the channel to its new master by itself.
        deadline = time.monotonic() + 10
        while heard.reconnects == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert heard.reconnects >= 1
        await feed.wait_connected(10)
        await store.emit("moving", ev.ChatMessage(ts=1.0, user=USER, text="after"))
        while time.monotonic() < deadline:
            if any(e.to_wire().get("text") == "after" for _, e in heard.events):
                break
            await asyncio.sleep(0.05)
        texts = [e.to_wire().get("text") for _, e in heard.events]
        assert texts[0] == "before" and texts[-1] == "after"
        state, _ = await store.load("moving")
        assert list(state.history)[-1]["text"] == "after"
        assert (await checkout.stock("moving"))["p1"]["available"] == 10
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()


async def outcome(call: Awaitable[object]) -> str:
    """``ok`` or the error code (the exception, and what its traceback holds, freed)."""
    try:
        await call
    except StoreUnavailable:
        return "unavailable"
    except CheckoutError as exc:
        return exc.code
    return "ok"


async def test_a_master_down_without_replica_is_unavailable_not_a_hang(
    tmp_path: Path,
    redis_cluster: LocalRedisCluster,  # skips without Redis 7; this test loses a master of its own
) -> None:
    cluster = LocalRedisCluster(tmp_path / "c", masters=3, replicas=0, node_timeout_ms=1000)
    await asyncio.to_thread(cluster.start)
    client = cluster_client(cluster.url)
    try:
        store = RedisRoomStore(client, "node-d")
        checkout = CheckoutService(client, SandboxProvider())
        assert await store.create_room(
            "down", title="T", host="Mia", host_token_hash="h", commission_rate=0.1
        )
        cluster.kill(cluster.port_of_key(room_prefix("down")))
        for _ in range(3):
            started = time.monotonic()
            chat = ev.ChatMessage(ts=1.0, user=USER, text="x")
            assert await outcome(store.emit("down", chat)) == "unavailable"
            assert await outcome(checkout.init_stock("down", "p1", 10)) == "unavailable"
            assert time.monotonic() - started < 10
    finally:
        await client.aclose()
        await close_dropped_connections()
        await asyncio.to_thread(cluster.stop)


async def close_dropped_connections() -> None:
    """redis-py 8.1, refreshing its slot map over and over while a master is down for
    good, drops connections without closing them (they would be reported as unclosed
    sockets at the end of the session): close whatever is still open."""
    gc.collect()
    for obj in gc.get_objects():
        if isinstance(obj, AbstractConnection) and obj.is_connected:
            with contextlib.suppress(Exception):
                await obj.disconnect()
