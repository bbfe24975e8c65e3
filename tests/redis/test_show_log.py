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


async def test_the_stock_label_is_sampled_into_the_log_once_across_nodes(
    redis_client: AnyRedis,
) -> None:
    a, b = RedisRoomStore(redis_client, "node-a"), RedisRoomStore(redis_client, "node-b")
    await a.create_room("r2", title="Show", host="Mia", host_token_hash="h", commission_rate=0)
    assert await a.log_stock("r2", {"p1": 9}, 1_000, 1_000) == {"p1": 9}  # no show: in step
    log = ShowLog(redis_client, retention=3600, max_entries=4)
    await log.begin("r2", "s2", {"ts": 1_000, "pinned": None, "lineup": [], "products": {}})
    seq = await a.emit("r2", ev.Pinned(ts=1_100, product_id="p1"), (SavePin("p1"),))

    assert await a.log_stock("r2", {"p1": 9, "p/2": 3}, 1_200, 1_000) == {"p1": 9, "p/2": 3}
    # the other node read the same values: nothing new is logged
    assert await b.log_stock("r2", {"p1": 9, "p/2": 3}, 1_300, 1_000) == {"p1": 9, "p/2": 3}
    # a purchase: within the second it waits (the old value is returned), then it is logged
    assert await b.log_stock("r2", {"p1": 8, "p/2": 3}, 1_700, 1_000) == {"p1": 9, "p/2": 3}
    assert await a.log_stock("r2", {"p1": 7, "p/2": 3}, 2_250, 1_000) == {"p1": 7, "p/2": 3}
    assert await b.log_stock("r2", {"p1": 7, "p/2": 3}, 2_300, 1_000) == {"p1": 7, "p/2": 3}

    stock = [r for r in await log.state_log("r2", "s2") if r["type"] == "stock"]
    assert stock == [
        {"seq": seq, "type": "stock", "ts": 1_200, "stock": {"p1": 9, "p/2": 3}},
        {"seq": seq, "type": "stock", "ts": 2_250, "stock": {"p1": 7}},
    ]
    assert 0 < await redis_client.pttl(show_meta_key("r2", "s2")) <= 3_600_000
    # bounded like every event: past max_entries a change is counted, not kept
    await a.log_stock("r2", {"p1": 6}, 3_300, 1_000)
    await a.log_stock("r2", {"p1": 5}, 4_400, 1_000)
    info = await log.info("r2", "s2")
    assert (info["state"], info["dropped"]) == (4, 2)
    await log.end("r2", "s2")
    assert await a.log_stock("r2", {"p1": 1}, 9_000, 1_000) == {"p1": 1}
    assert len(await log.state_log("r2", "s2")) == 4


async def test_a_node_that_saw_another_show_logs_into_the_current_one(
    redis_client: AnyRedis,
) -> None:
    """The store sends the show's keys it last saw; the script sends it back to the one
    logged now (or to none) before writing anything."""
    a, b = RedisRoomStore(redis_client, "node-a"), RedisRoomStore(redis_client, "node-b")
    await a.create_room("r3", title="Show", host="Mia", host_token_hash="h", commission_rate=0)
    log = ShowLog(redis_client, retention=3600, max_entries=100)
    await log.begin("r3", "s1", {"ts": _now(), "pinned": None, "lineup": [], "products": {}})
    first = await b.emit("r3", ev.ChatMessage(ts=_now(), user=USER, text="in s1"))
    await log.end("r3", "s1")
    await log.begin("r3", "s2", {"ts": _now(), "pinned": None, "lineup": [], "products": {}})
    second = await b.emit("r3", ev.ChatMessage(ts=_now(), user=USER, text="in s2"))
    assert await b.log_stock("r3", {"p1": 4}, 1_000, 1_000) == {"p1": 4}
    await log.end("r3", "s2")
    third = await b.emit("r3", ev.ChatMessage(ts=_now(), user=USER, text="no show"))
    assert await b.log_stock("r3", {"p1": 3}, 5_000, 1_000) == {"p1": 3}

    assert [c["seq"] for c in await log.chat("r3", "s1", 0, _now() + 1)] == [first]
    assert [c["seq"] for c in await log.chat("r3", "s2", 0, _now() + 1)] == [second]
    assert [s["type"] for s in await log.state_log("r3", "s2")] == ["snapshot", "stock"]
    assert third == second + 1
