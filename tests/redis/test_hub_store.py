"""The store contract (``livecart.chat.store``) held by ``RedisRoomStore`` on a real Redis."""

from __future__ import annotations

import asyncio
import socket

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from livecart.chat import events as ev
from livecart.chat.errors import RoomNotFound, StoreUnavailable
from livecart.chat.store import (
    RoomStore,
    SaveLineup,
    SaveModeration,
    SavePin,
    SaveProduct,
    SaveRoomField,
)
from livecart.chat.store_redis import RedisRoomStore
from livecart.redis_client import AnyRedis

USER = ev.ChatUser("v1", "Ann", "viewer")
PRODUCT = {"id": "p1", "name": "Scarf", "price": 1, "currency": "CNY", "image_url": "", "stock": 1}


class Heard:
    def __init__(self) -> None:
        self.events: list[tuple[str, ev.RoomEvent]] = []
        self.hearts: list[tuple[str, int, int]] = []
        self.words: list[tuple[str, list[str]]] = []

    def on_event(self, room_id: str, event: ev.RoomEvent) -> None:
        self.events.append((room_id, event))

    def on_hearts(self, room_id: str, n: int, total: int) -> None:
        self.hearts.append((room_id, n, total))

    def on_words(self, room_id: str, words: list[str]) -> None:
        self.words.append((room_id, words))

    async def on_reconnect(self) -> None:
        pass


@pytest.fixture
async def redis_client(any_redis: AnyRedis) -> AnyRedis:
    """Every test here runs on one Redis and on a Redis Cluster (``any_redis``)."""
    return any_redis


@pytest.fixture
async def store(redis_client: aioredis.Redis) -> RoomStore:
    typed: RoomStore = RedisRoomStore(redis_client, "node-t")  # the contract, checked by mypy
    assert await typed.create_room(
        "r1", title="Show", host="Mia", host_token_hash="h", commission_rate=0.1
    )
    return typed


async def test_emit_sequences_writes_and_history_together(store: RoomStore) -> None:
    assert not await store.create_room(
        "r1", title="Again", host="X", host_token_hash="h", commission_rate=0.1
    )
    chat = ev.ChatMessage(ts=1.5, user=USER, text="hi")
    assert await store.emit("r1", chat) == 1
    product = ev.ProductChanged(ts=2.0, product=PRODUCT)
    writes = (SaveProduct(PRODUCT), SaveLineup(("p1",)), SavePin("p1"))
    assert await store.emit("r1", product, writes) == 2
    more = (SaveModeration("mute", "v1"), SaveRoomField("slow_mode", 30))
    assert await store.emit("r1", ev.Moderated(ts=3.0, action="mute", vid="v1"), more) == 3
    await store.set_banned_words("r1", ["scam"])
    state, hearts = await store.load("r1")
    assert state.seq == 3 and hearts == 0 and state.epoch == (await store.meta("r1"))["epoch"]
    assert state.products == {"p1": PRODUCT} and state.lineup == ["p1"]
    assert state.pinned == "p1" and state.muted == {"v1"} and state.slow_mode == 30
    assert state.banned_words == ["scam"]
    assert [m["text"] for m in state.chat] == ["hi"]
    after = await store.history_after("r1", 1)
    assert [e.seq for e in after] == [2, 3] and after[0] == ev.ProductChanged(
        seq=2, ts=2.0, product=PRODUCT
    )


async def test_a_missing_room_is_room_not_found_and_nothing_is_written(
    store: RoomStore, redis_client: aioredis.Redis
) -> None:
    with pytest.raises(RoomNotFound):
        await store.load("nope")
    with pytest.raises(RoomNotFound):
        await store.emit("nope", ev.Pinned(product_id=None), (SavePin("p1"),))
    with pytest.raises(RoomNotFound):
        await store.set_banned_words("nope", ["x"])
    assert await redis_client.keys("lc:{nope}:*") == []
    assert await store.meta("nope") == {} and await store.room_ids() == ["r1"]


async def test_the_feed_hears_events_hearts_and_words_in_order(store: RoomStore) -> None:
    heard = Heard()
    feed = store.feed(heard)
    task = asyncio.create_task(feed.run())
    try:
        await feed.wait_connected(5)
        await feed.subscribe("r1")
        for text in ("a", "b"):
            await store.emit("r1", ev.ChatMessage(ts=1.0, user=USER, text=text))
        await store.add_hearts({"r1": 4})
        await store.set_banned_words("r1", ["scam"])
        for _ in range(100):
            if heard.words:
                break
            await asyncio.sleep(0.02)
        assert [(r, e.seq, e.to_wire()["text"]) for r, e in heard.events] == [
            ("r1", 1, "a"),
            ("r1", 2, "b"),
        ]
        assert heard.hearts == [("r1", 4, 4)] and heard.words == [("r1", ["scam"])]
        assert feed.connected and feed.received == 4
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_presence_viewers_explain_and_shared_values(store: RoomStore) -> None:
    assert (await store.presence("r1", 3)).viewers == 3
    assert await store.viewers("r1") == 3
    assert await store.explain("r1", "p1", "v1") == 1
    assert await store.explain("r1", "p1", "v1") == 1  # once per viewer
    assert await store.explain("r1", "p1", "v2") == 2
    assert (await store.presence("r1", 0)).explain == [["p1", 2]]
    assert await store.viewers("r1") == 0
    await store.clear_explain("r1", "p1")
    assert (await store.presence("r1", 0)).explain == []
    assert await store.admin_token("adm_first") == "adm_first"
    assert await store.admin_token("adm_second") == "adm_first"
    assert await store.secret() == await store.secret()


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
    finally:
        await client.aclose()
