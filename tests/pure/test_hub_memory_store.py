"""The hub's chat rules over ``MemoryRoomStore``: decide -> emit -> the feed -> apply, the
whole path of a command but Redis and the sockets, in milliseconds. The same rules
through a real node and Redis are in ``tests/node/test_hub_rules.py``; each rule case on
its own in ``test_chat_decisions.py``. A rule test that needs neither the wire nor Redis
can live here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from livecart.chat.actor import Actor
from livecart.chat.commands import parse_command
from livecart.chat.errors import CommandError
from livecart.chat.hub import Hub
from livecart.chat.room import Room
from livecart.chat.store_memory import MemoryDatastore, MemoryRoomStore
from tests.clocks import FakeClock

HOST = Actor.host("r1", "Mia")
ANN = Actor("vAnn000", "Ann", "viewer")


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    store = MemoryRoomStore(MemoryDatastore(clock=FakeClock()), "node-a")
    await store.create_room("r1", title="Show", host="Mia", host_token_hash="h", commission_rate=0)
    hub = Hub(store)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def run(hub: Hub, room: Room, actor: Actor, **frame: object) -> dict[str, object]:
    return await hub.execute(room, actor, parse_command(dict(frame)))


async def refused(hub: Hub, room: Room, actor: Actor, **frame: object) -> str:
    with pytest.raises(CommandError) as error:
        await run(hub, room, actor, **frame)
    return str(error.value.code)


async def until(check: Callable[[], bool]) -> None:
    """The hub hears some changes (banned words) on its feed, a turn of the loop later."""
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


async def test_banned_words_delete_and_mute_through_the_hub(hub: Hub) -> None:
    room = await hub.room("r1")
    first = await run(hub, room, ANN, cmd="chat", text="m0")
    await run(hub, room, ANN, cmd="chat", text="m1")
    await run(hub, room, HOST, cmd="banned_words", words=["Fake", "scam"])
    await until(lambda: room.state.banned_words == ["fake", "scam"])
    assert await refused(hub, room, ANN, cmd="chat", text="this is a SCAM!") == "blocked_word"
    await run(hub, room, ANN, cmd="chat", text="scampi is fine")
    # a deleted message is gone from this node's room and from what the store loads
    await run(hub, room, HOST, cmd="delete", message_id=first["seq"])
    for state in (room.state, (await hub.store.load("r1"))[0]):
        assert [m["text"] for m in state.chat] == ["m1", "scampi is fine"]
    await run(hub, room, HOST, cmd="mute", vid=ANN.vid)
    assert room.state.muted == {ANN.vid}  # applied before the reply
    assert await refused(hub, room, ANN, cmd="chat", text="hello?") == "muted"
    await run(hub, room, HOST, cmd="chat", text="the host is never muted")
