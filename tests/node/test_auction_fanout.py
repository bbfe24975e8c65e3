"""The bid feed is sampled in a huge room; the auction's state never is.

A real node, a room of 1,000 viewers (light WebSocket clients from the load tester, one
watcher decoding everything) and one bidder sending ten bids without waiting for the
replies, so that they land in one tick: every viewer gets only the latest auction
event of the batch, the others counted in ``skipped`` (so the sequence numbers add up
with no gap), and that latest event carries the exact final price and bid count. In a
small room every auction event arrives.
"""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp

from livecart.chat.room import CONFLATE_FROM
from livecart.loadtest.wsclient import MSGPACK, ViewerStats, open_viewer
from tests.hubclient import Client, Node, connect, create_room, running_node


def key() -> str:
    return "k" + secrets.token_hex(8)


async def storm_of_ten(http: aiohttp.ClientSession, node: Node, room: str, crowd: int) -> Any:
    token = await create_room(http, node, room)
    host = await connect(http, node, room, name="Mia", token=token)
    added = await host.command("add_product", name="Lot", price=1000, currency="USD", stock=1)
    pid = added["data"]["product"]["id"]
    stats = ViewerStats()
    light = [
        await open_viewer(
            "127.0.0.1", node.port, f"/ws/{room}?name=V{i}", sample=False, fmt=MSGPACK, stats=stats
        )
        for i in range(crowd)
    ]
    watcher = await connect(http, node, room, name="Wes")
    bidder = await connect(http, node, room, name="Bea")
    started = await host.command("start_auction", product_id=pid, start_price=1000, duration=30,
                                 counter_seconds=0, key=key())  # fmt: skip
    aid = started["data"]["auction"]["id"]
    first_seq = watcher.seq
    for k in range(10):  # pipelined: all ten before any reply
        await bidder.send({"id": 1000 + k, "cmd": "bid", "auction_id": aid, "max": 1000 + 100 * k,
                           "key": key()})  # fmt: skip
    await bidder.wait_for(lambda c: len(c.replies) == 10, timeout=10)
    assert all(r["ok"] for r in bidder.replies.values())

    def done(c: Client) -> bool:
        return any(e["type"] == "auction" and e["auction"]["bids"] == 10 for e in c.events)

    await watcher.wait_for(done, timeout=10)
    for v in light:
        v.close()
    return watcher, first_seq


def feed(watcher: Client, first_seq: int) -> tuple[list[dict[str, Any]], int]:
    """The auction events after ``first_seq`` and the events the batches said they left out."""
    seen = [e for e in watcher.events if e["seq"] > first_seq and e["type"] == "auction"]
    skipped = sum(f.get("skipped", 0) for f in watcher.frames if f["t"] == "batch")
    return seen, skipped


async def test_a_huge_room_gets_the_latest_auction_state_of_each_batch(redis_server: Any) -> None:
    async with (
        running_node(redis_server.url, "node-f", max_sockets_per_address=0) as node,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
    ):
        huge, first = await storm_of_ten(http, node, "huge", CONFLATE_FROM)
        seen, skipped = feed(huge, first)
        assert len(seen) < 10 and skipped >= 1
        events = [e for e in huge.events if e["seq"] > first]
        # the start and ten bids, each kept or counted in skipped: no gap unaccounted (the
        # kept one is the newest by version, which need not be the last by seq)
        assert len(events) + skipped == 11
        last = seen[-1]["auction"]
        assert (last["bids"], last["price"], last["state"]) == (10, 1000, "running")

        small, first = await storm_of_ten(http, node, "small", 5)
        seen, skipped = feed(small, first)
        # every one arrives (bids emit after their replies, in parallel: in any order)
        assert sorted(e["auction"]["bids"] for e in seen) == list(range(11)) and skipped == 0
