"""The sweeper's room index on a real Redis: one write per room and interval, and a
node memory bounded by the rooms of one interval however many rooms it has seen."""

from __future__ import annotations

import redis.asyncio as aioredis

from livecart.checkout.datastore import Datastore
from livecart.checkout.room_index import RoomIndex
from livecart.keyspace import CHECKOUT_ROOMS
from tests.clocks import FakeClock


async def test_a_room_is_written_once_per_interval(redis_client: aioredis.Redis) -> None:
    wall, mono = FakeClock(1_763_760_000.0), FakeClock(100.0)
    store = Datastore(redis_client, clock=wall, key_ttl_ms=86_400_000)
    index = RoomIndex(store, keep_ms=86_400_000, every=30.0, monotonic=mono)
    await index.touch("demo")
    first = await redis_client.zscore(CHECKOUT_ROOMS, "demo")
    wall.t += 10
    mono.t += 29.9
    await index.touch("demo")
    assert await redis_client.zscore(CHECKOUT_ROOMS, "demo") == first  # no second write
    wall.t += 10
    mono.t += 0.1
    await index.touch("demo")
    assert await redis_client.zscore(CHECKOUT_ROOMS, "demo") == first + 20_000
    assert await index.active() == ["demo"]


async def test_the_memory_holds_only_the_rooms_of_one_interval(
    redis_client: aioredis.Redis,
) -> None:
    wall, mono = FakeClock(1_763_760_000.0), FakeClock(100.0)
    store = Datastore(redis_client, clock=wall, key_ttl_ms=86_400_000)
    index = RoomIndex(store, keep_ms=86_400_000, every=30.0, monotonic=mono)
    for minute in range(10):
        for n in range(50):
            await index.touch(f"room-{minute}-{n}")
            mono.t += 0.5  # 50 rooms in 25 s
        assert len(index) <= 60  # the rooms of the last 30 s, not all 50 * (minute + 1)
        mono.t += 35
    assert len(await index.active()) == 500  # Redis still lists every room for the sweeper
    await index.touch("late")
    assert len(index) == 1
