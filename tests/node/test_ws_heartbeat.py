"""Dead peers on chat WebSockets: a socket that stops answering pings is dropped, one
that answers stays, and what the dropped one held (its place in the room, its slot in
the per-address count) is given back."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from livecart.connections import GATE
from livecart.web.keys import HUB
from livecart.web.ws_connection import Heartbeat
from tests.hubclient import connect, create_room, raw_upgrade, running_node

HEARTBEAT = 0.6  # ping after 0.6 s of silence, drop 0.3 s later (checked every 0.1 s)


async def _silent_socket(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client that reads but never answers anything (no pong)."""
    return await raw_upgrade(port)


async def test_a_silent_peer_is_dropped_and_an_answering_one_stays(redis_url: str) -> None:
    async with (
        running_node(redis_url, ws_heartbeat=HEARTBEAT, max_sockets_per_address=10) as n,
        aiohttp.ClientSession() as http,
    ):
        await create_room(http, n)
        live = await connect(http, n)
        replies: asyncio.Queue[dict[str, object]] = asyncio.Queue()

        async def read_live() -> None:  # aiohttp's client answers pings while it reads
            async for msg in live.ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    obj = msg.json()
                    if obj.get("t") == "reply":
                        replies.put_nowait(obj)

        reading = asyncio.create_task(read_live())
        reader, writer = await _silent_socket(n.port)
        hub = n.app[HUB]
        for _ in range(50):  # the 101 comes before the join completes
            if hub.stats()["sessions"] == 2:
                break
            await asyncio.sleep(0.05)
        assert hub.stats()["sessions"] == 2
        assert sum(n.app[GATE].open.values()) == 2

        started = time.monotonic()
        got = b""
        ended = False
        while time.monotonic() - started < 5:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 5)
            except ConnectionResetError:
                ended = True
                break
            if not chunk:
                ended = True
                break
            got += chunk
        took = time.monotonic() - started
        writer.close()
        assert ended, "the silent socket was never dropped"
        assert b"\x89\x00" in got  # it was pinged first
        assert HEARTBEAT < took < HEARTBEAT * 1.5 + 1.0

        for _ in range(50):
            if hub.stats()["sessions"] == 1:
                break
            await asyncio.sleep(0.05)
        assert hub.stats()["sessions"] == 1
        assert sum(n.app[GATE].open.values()) == 1

        await asyncio.sleep(HEARTBEAT * 3)  # several heartbeats: the answering one stays
        assert not live.ws.closed
        await live.ws.send_json({"id": 7, "cmd": "ping"})
        reply = await asyncio.wait_for(replies.get(), 5)
        assert reply["id"] == 7 and reply["ok"] is True
        await live.ws.close()
        await reading
        for _ in range(50):
            if not n.app[GATE].open:
                break
            await asyncio.sleep(0.05)
        assert not n.app[GATE].open


def test_the_heartbeat_interval_is_bounded() -> None:
    """``LIVECART_WS_HEARTBEAT`` 0 would spin the sweep loop; NaN and a day are refused too."""
    for bad in (0.0, 0.05, -1.0, float("nan"), 86_400.0):
        with pytest.raises(ValueError, match="ws_heartbeat"):
            Heartbeat(bad)
    assert Heartbeat(0.1).timeout == 0.05
