"""A big room's fan-out runs in chunks with the event loop turning between them
(``Room.begin_flush``, ``Fanout.write``, the hub's ticker), over real sockets.

- every session of the fan-out gets the batch exactly once, however it is chunked;
- a session that joins while a fan-out runs is not written that batch (its snapshot
  already holds it), and one that leaves is skipped;
- between two chunks the loop runs: a callback scheduled during the fan-out runs before
  it ends;
- an event that arrives in a room with nothing pending wakes the ticker at once.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from livecart.chat.codec import WireFormat
from livecart.chat.room import Room
from livecart.chat.room_state import RoomState
from livecart.chat.session import Session


@asynccontextmanager
async def sessions(n: int) -> AsyncIterator[list[tuple[Session, socket.socket]]]:
    """``n`` sessions on real socket pairs (the server's end wrapped in a transport)."""
    loop = asyncio.get_running_loop()
    made: list[tuple[Session, socket.socket]] = []
    try:
        for i in range(n):
            ours, theirs = socket.socketpair()
            theirs.setblocking(False)
            transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
            session = Session(transport, WireFormat.JSON, f"v{i}", f"t{i}", f"n{i}", "viewer")
            made.append((session, theirs))
        yield made
    finally:
        for session, theirs in made:
            session.transport.close()
            theirs.close()


def received(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def chat(seq: int) -> dict[str, Any]:
    return {"seq": seq, "ts": 1.0, "type": "chat", "vid": "v0", "name": "n0", "text": "hi"}


async def test_a_chunked_fan_out_writes_each_session_once_and_only_those_it_began_with() -> None:
    room = Room(RoomState("r1", "e1"))
    async with sessions(301) as pairs:
        for session, _ in pairs[:300]:
            room.sessions.add(session)
        room.enqueue(chat(1))
        fanout = room.begin_flush(now=0.0)
        assert fanout is not None and room.pending == []
        assert fanout.write(100) == 100 and not fanout.done
        # Between chunks: one session leaves, one joins, a new event arrives.
        leaving, leaving_sock = next((s, k) for s, k in pairs if s in fanout.sessions[200:])
        room.sessions.discard(leaving)
        leaving.transport.close()
        joiner, joiner_sock = pairs[300]
        room.sessions.add(joiner)
        room.enqueue(chat(2))
        while not fanout.done:
            fanout.write(100)
        await asyncio.sleep(0.05)
        assert fanout.written == 299
        frames = {s.vid: received(k) for s, k in pairs[:300] if s is not leaving}
        assert all(f.count(b'"seq":1') == 1 for f in frames.values()), "each got it once"
        assert not any(b'"seq":2' in f for f in frames.values()), "the next batch waits"
        assert received(joiner_sock) == b"", "a session that joined mid-fan-out"
        assert received(leaving_sock) == b""
        assert room.pending == [chat(2)]


async def test_the_loop_runs_between_chunks_and_an_idle_room_wakes_the_ticker() -> None:
    room = Room(RoomState("r1", "e1"))
    woken: list[bool] = []
    room.wake = lambda: woken.append(True)
    room.enqueue(chat(1))
    room.enqueue(chat(2))
    assert woken == [True], "woken by the first event only"
    async with sessions(300) as pairs:
        for session, _ in pairs:
            room.sessions.add(session)
        ran_during: list[int] = []
        fanout = room.begin_flush(now=0.0)
        assert fanout is not None
        asyncio.get_running_loop().call_soon(lambda: ran_during.append(fanout.next))
        while not fanout.done:
            fanout.write(100)
            if not fanout.done:
                await asyncio.sleep(0)  # what the ticker does between chunks
        assert ran_during and 0 < ran_during[0] < 300, ran_during
