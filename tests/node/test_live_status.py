"""The room status follows the stream, with a grace period for a reconnecting host."""

from __future__ import annotations

import asyncio

import aiohttp

from livecart.web.keys import HUB
from livecart.web.live_status import LiveStatus
from tests.hubclient import Node, connect, create_room


async def test_status_follows_stream_with_grace(http: aiohttp.ClientSession, node: Node) -> None:
    token = await create_room(http, node)
    viewer = await connect(http, node, name="Ann")
    host = await connect(http, node, name="whatever", token=token)
    assert host.first["you"]["name"] == "Mia"  # the room's host name, not the query's
    assert host.first["banned"] == [] and host.first["muted"] == []
    assert "banned" not in viewer.first
    status = LiveStatus(lambda: node.app[HUB], grace=0.3)

    def statuses() -> list[str]:
        return [e["room"]["status"] for e in viewer.events if e["type"] == "room"]

    await status.on_live("r1", True)
    await viewer.wait_for(lambda c: statuses() == ["live"])
    await status.on_live("r1", False)
    await asyncio.sleep(0.1)
    await status.on_live("r1", True)  # back within the grace period: still live
    await asyncio.sleep(0.5)
    await status.on_live("r1", False)
    await viewer.wait_for(lambda c: statuses() == ["live", "ended"], timeout=3)
    # Only viewers count: the host's socket is not a viewer.
    await viewer.wait_for(lambda c: c.live.get("viewers") == 1, timeout=3)
    await status.close()
    await viewer.ws.close()
    await host.ws.close()
