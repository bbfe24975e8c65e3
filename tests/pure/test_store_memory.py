"""``MemoryRoomStore`` (``livecart.chat.store_memory``): the store contract's tests
(``tests/store_contract.py``, the same ones ``RedisRoomStore`` passes in
``tests/redis/test_hub_store.py``), then what only the memory store has: its clock,
several nodes over one datastore, and ``go_away``/``come_back``."""

from __future__ import annotations

import asyncio

import pytest

from livecart.chat import events as ev
from livecart.chat.errors import CommandError, StoreUnavailable
from livecart.chat.store import ChatBudget, RoomStore, SavePin, SaveRoomField
from livecart.chat.store_memory import MemoryDatastore, MemoryRoomStore
from tests.clocks import FakeClock
from tests.store_contract import Heard, StoreContract, chat


async def _store(clock: FakeClock) -> MemoryRoomStore:
    store = MemoryRoomStore(MemoryDatastore(clock=clock), "node-a")
    assert await store.create_room(
        "r1", title="Show", host="Mia", host_token_hash="h", commission_rate=0.1
    )
    return store


class TestMemoryStore(StoreContract):
    @pytest.fixture
    async def store(self) -> RoomStore:
        typed: RoomStore = await _store(FakeClock())  # the contract, checked by mypy
        return typed


async def test_buckets_and_slow_mode_run_on_the_datastores_clock() -> None:
    clock = FakeClock()
    store = await _store(clock)
    for _ in range(3):
        await store.emit("r1", chat(), (), ChatBudget("v1"))
    with pytest.raises(CommandError) as refused:
        await store.emit("r1", chat(), (), ChatBudget("v1"))
    assert (refused.value.code, refused.value.retry_after) == ("rate_limited", 1.0)
    clock.advance(1.0)
    await store.emit("r1", chat(), (), ChatBudget("v1"))
    await store.emit(
        "r1", ev.Moderated(ts=1.0, action="mute", vid="x"), (SaveRoomField("slow_mode", 30),)
    )
    clock.advance(10)
    with pytest.raises(CommandError) as slow:
        await store.emit("r1", chat(), (), ChatBudget("v1"))
    assert (slow.value.code, slow.value.retry_after) == ("slow_mode", 20.0)
    clock.advance(20)
    await store.emit("r1", chat(), (), ChatBudget("v1"))


async def test_nodes_share_one_datastore_and_a_silent_nodes_viewers_expire() -> None:
    clock = FakeClock()
    a = await _store(clock)
    b = MemoryRoomStore(a.datastore, "node-b")
    assert await b.room_ids() == ["r1"] and await b.secret() == await a.secret()
    await a.presence("r1", 3)
    assert (await b.presence("r1", 2)).viewers == 5
    clock.advance(6)  # node-a stopped reporting
    assert (await b.presence("r1", 2)).viewers == 2


async def test_an_away_datastore_refuses_everything_and_its_feeds_reconnect() -> None:
    store = await _store(FakeClock())
    reconnected = asyncio.Event()

    class Listener(Heard):
        async def on_reconnect(self) -> None:
            reconnected.set()

    heard = Listener()
    feed = store.feed(heard)
    task = asyncio.create_task(feed.run())
    try:
        await feed.wait_connected(1)
        await feed.subscribe("r1")
        store.datastore.go_away()
        assert not feed.connected and feed.losses == 1
        with pytest.raises(StoreUnavailable):
            await store.emit("r1", chat(), (SavePin("p1"),))
        with pytest.raises(StoreUnavailable):
            await store.load("r1")
        with pytest.raises(StoreUnavailable):
            await store.presence("r1", 1)
        assert store.unavailable == 3
        store.datastore.come_back()
        await asyncio.wait_for(reconnected.wait(), 1)
        assert feed.connected and feed.reconnects == 1
        state, _ = await store.load("r1")
        assert state.seq == 0 and state.pinned is None  # nothing was written
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
