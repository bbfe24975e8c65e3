"""The per-show event log on one Redis and on a Redis Cluster: written by the emit
script while a show is logged, complete and ordered, bounded, retained, deleted."""

from __future__ import annotations

import time

import pytest

from livecart.chat import events as ev
from livecart.chat.show_log import ShowLog
from livecart.chat.store import SavePin
from livecart.chat.store_redis import RedisRoomStore
from livecart.keyspace import show_log_key, show_meta_key, show_state_key
from livecart.redis_client import AnyRedis

USER = ev.ChatUser("v1", "Ann", "viewer")


@pytest.fixture
async def redis_client(any_redis: AnyRedis) -> AnyRedis:
    return any_redis


def _now() -> int:
    return int(time.time() * 1000)


async def test_the_log_follows_the_show_in_order_and_bounded(redis_client: AnyRedis) -> None:
    store = RedisRoomStore(redis_client, "node-t")
    await store.create_room("r1", title="Show", host="Mia", host_token_hash="h", commission_rate=0)
    log = ShowLog(redis_client, retention=3600, max_entries=30)
    await store.emit("r1", ev.ChatMessage(ts=_now(), user=USER, text="before the show"))
    await log.begin("r1", "s1", {"ts": _now(), "pinned": None, "lineup": [], "products": {}})
    seqs = [
        await store.emit("r1", ev.ChatMessage(ts=_now(), user=USER, text=f"m{i}"))
        for i in range(20)
    ]
    pin = await store.emit("r1", ev.Pinned(ts=_now(), product_id="p1"), (SavePin("p1"),))
    await store.emit("r1", ev.ChatDeleted(ts=_now(), id=seqs[3]))
    seqs += [
        await store.emit("r1", ev.ChatMessage(ts=_now(), user=USER, text=f"n{i}"))
        for i in range(20)
    ]
    await log.end("r1", "s1")
    await store.emit("r1", ev.ChatMessage(ts=_now(), user=USER, text="after the show"))

    chat = await log.chat("r1", "s1", 0, _now() + 1)
    assert [c["seq"] for c in chat] == seqs[:30]  # bounded: the first 30, in order
    state = await log.state_log("r1", "s1")
    assert [s["type"] for s in state] == ["snapshot", "pin", "chat_deleted"]
    assert state[1]["seq"] == pin
    info = await log.info("r1", "s1")
    assert (info["chat"], info["state"], info["dropped"]) == (30, 3, 10)
    for key in (show_log_key("r1", "s1"), show_state_key("r1", "s1"), show_meta_key("r1", "s1")):
        assert 0 < await redis_client.pttl(key) <= 3_600_000
    assert await log.memory("r1", "s1") > 0

    await log.delete("r1", "s1")
    assert await log.state_log("r1", "s1") == []
    assert not (await log.info("r1", "s1"))["exists"]
