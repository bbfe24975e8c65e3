"""The shared chat limits of ``RoomStore.emit`` (``ChatBudget``) and the shared address
bans, held by ``RedisRoomStore`` in its emit script, on one Redis and a Redis Cluster."""

from __future__ import annotations

import pytest

from livecart.chat import events as ev
from livecart.chat.errors import CommandError
from livecart.chat.store import ChatBudget, RoomStore, SaveModeration, SaveRoomField
from livecart.chat.store_redis import RedisRoomStore
from livecart.redis_client import AnyRedis

USER = ev.ChatUser("v1", "Ann", "viewer")


def chat(text: str = "hi") -> ev.ChatMessage:
    return ev.ChatMessage(ts=1.0, user=USER, text=text)


@pytest.fixture
async def store(any_redis: AnyRedis) -> RoomStore:
    typed: RoomStore = RedisRoomStore(any_redis, "node-t")
    assert await typed.create_room(
        "r1", title="Show", host="Mia", host_token_hash="h", commission_rate=0.1
    )
    return typed


async def _refusal(store: RoomStore, budget: ChatBudget) -> CommandError:
    with pytest.raises(CommandError) as refused:
        await store.emit("r1", chat(), (), budget)
    return refused.value


async def test_buckets_are_taken_with_the_message_and_refuse_without_emitting(
    store: RoomStore,
) -> None:
    viewer = ChatBudget("v1")
    seqs = [await store.emit("r1", chat(), (), viewer) for _ in range(3)]
    refused = await _refusal(store, viewer)
    assert refused.code == "rate_limited" and 0 < (refused.retry_after or 0) <= 1
    # the refusal took no seq: the next event is the fourth
    assert await store.emit("r1", chat()) == seqs[-1] + 1
    # an address's bucket (rate 1, burst 2) over fresh identities
    addressed = [
        ChatBudget(f"f{i}", address="a1", address_rate=1, address_burst=2) for i in range(3)
    ]
    for b in addressed[:2]:
        await store.emit("r1", chat(), (), b)
    assert (await _refusal(store, addressed[2])).code == "rate_limited"
    await store.emit(
        "r1", chat(), (), ChatBudget("f9", address="a2", address_rate=1, address_burst=2)
    )


async def test_slow_mode_is_read_from_the_room(store: RoomStore) -> None:
    await store.emit(
        "r1", ev.Moderated(ts=1.0, action="mute", vid="x"), (SaveRoomField("slow_mode", 30),)
    )
    await store.emit("r1", chat(), (), ChatBudget("v1"))
    refused = await _refusal(store, ChatBudget("v1"))
    assert refused.code == "slow_mode" and 29 < (refused.retry_after or 0) <= 30


async def test_address_bans_need_a_ban_and_go_with_the_unban(store: RoomStore) -> None:
    budget = ChatBudget("fresh", address="d1", address_rate=2, address_burst=6)
    await store.ban_addresses("r1", "troll", ["d1"])  # not banned: nothing recorded
    assert not await store.address_banned("r1", "d1")
    ban = SaveModeration("ban", "troll")
    await store.emit("r1", ev.Moderated(ts=1.0, action="ban", vid="troll"), (ban,))
    await store.ban_addresses("r1", "troll", ["d1"])
    assert await store.address_banned("r1", "d1")
    assert (await _refusal(store, budget)).code == "banned"
    unban = SaveModeration("unban", "troll")
    await store.emit("r1", ev.Moderated(ts=1.0, action="unban", vid="troll"), (unban,))
    assert not await store.address_banned("r1", "d1")
    await store.emit("r1", chat(), (), budget)
