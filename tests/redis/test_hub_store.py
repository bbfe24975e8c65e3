"""``RedisRoomStore`` (``livecart.chat.store_redis``) on a real Redis: the store
contract's tests (``tests/store_contract.py``, the same ones ``MemoryRoomStore`` passes in
``tests/pure/test_store_memory.py``) on one Redis and on a Redis Cluster (``any_redis``),
then what only Redis does: the keys a refused call leaves (none), the ``run_id`` in the
head, and a Redis that cannot be reached."""

from __future__ import annotations

import socket

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from livecart.chat import events as ev
from livecart.chat.errors import RoomNotFound, StoreUnavailable
from livecart.chat.store import RoomStore, SavePin
from livecart.chat.store_redis import RedisRoomStore
from livecart.keyspace import room_key
from livecart.redis_client import AnyRedis
from tests.store_contract import StoreContract, chat


async def _store(client: AnyRedis) -> RedisRoomStore:
    store = RedisRoomStore(client, "node-t")
    assert await store.create_room(
        "r1", title="Show", host="Mia", host_token_hash="h", commission_rate=0.1
    )
    return store


class TestRedisStore(StoreContract):
    """The contract, on one Redis and on a Redis Cluster."""

    @pytest.fixture
    async def store(self, any_redis: AnyRedis) -> RoomStore:
        typed: RoomStore = await _store(any_redis)  # the contract, checked by mypy
        return typed


async def test_a_missing_room_gets_no_key(any_redis: AnyRedis) -> None:
    store = await _store(any_redis)
    with pytest.raises(RoomNotFound):
        await store.emit("nope", ev.Pinned(product_id=None), (SavePin("p1"),))
    with pytest.raises(RoomNotFound):
        await store.set_banned_words("nope", ["x"])
    assert await store.renew_epoch("nope", "e") is None
    assert await any_redis.keys("lc:{nope}:*") == []


async def test_the_head_names_the_redis_that_answered(redis_client: aioredis.Redis) -> None:
    store = await _store(redis_client)
    run_id = (await redis_client.info("server"))["run_id"]
    assert (await store.head("r1")).server == run_id
    await store.emit("r1", chat())
    await redis_client.delete(room_key("r1", "meta"))  # the room's record is gone
    gone = (await store.presence("r1", 0)).head
    assert gone is not None and (gone.epoch, gone.seq, gone.server) == (None, 1, run_id)


async def test_an_unreachable_redis_is_store_unavailable() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = aioredis.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    store = RedisRoomStore(client, "node-x")
    try:
        with pytest.raises(StoreUnavailable) as info:
            await store.emit("r1", ev.Pinned(product_id=None))
        assert info.value.code == "unavailable"
        with pytest.raises(StoreUnavailable):
            await store.load("r1")
        with pytest.raises(StoreUnavailable):
            await store.presence("r1", 1)
        assert store.unavailable == 3
    finally:
        await client.aclose()
