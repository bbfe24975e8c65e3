"""The store's room head and epoch renewal (``RoomStore.head``, ``renew_epoch``, the head
inside ``presence``) on a real Redis: what the hub's staleness check reads."""

from __future__ import annotations

import redis.asyncio as aioredis

from livecart.chat import events as ev
from livecart.chat.store_redis import RedisRoomStore
from livecart.keyspace import room_key

USER = ev.ChatUser("v1", "Ann", "viewer")


async def _room(store: RedisRoomStore) -> None:
    assert await store.create_room(
        "r1", title="T", host="H", host_token_hash="x", commission_rate=0
    )


async def test_head_reads_epoch_seq_and_the_servers_run_id(redis_client: aioredis.Redis) -> None:
    store = RedisRoomStore(redis_client, "n1")
    assert (await store.head("r1")).epoch is None  # no such room
    await _room(store)
    epoch = (await store.meta("r1"))["epoch"]
    run_id = (await redis_client.info("server"))["run_id"]
    head = await store.head("r1")
    assert (head.epoch, head.seq, head.server) == (epoch, 0, run_id)
    await store.emit("r1", ev.ChatMessage(ts=1.0, user=USER, text="hi"))
    assert (await store.head("r1")).seq == 1
    assert (await store.presence("r1", 2)).head == await store.head("r1")
    await redis_client.delete(room_key("r1", "meta"))
    gone = (await store.presence("r1", 0)).head
    assert gone is not None and gone.epoch is None


async def test_renew_epoch_is_a_compare_and_set(redis_client: aioredis.Redis) -> None:
    store = RedisRoomStore(redis_client, "n1")
    assert await store.renew_epoch("r1", "whatever") is None
    await _room(store)
    old = (await store.meta("r1"))["epoch"]
    new = await store.renew_epoch("r1", old)
    assert new is not None and new != old
    assert (await store.head("r1")).epoch == new
    assert await store.renew_epoch("r1", old) == new  # a second node that noticed: no change
    assert (await store.load("r1"))[0].epoch == new
