"""Auctions and giveaways through ``livecart.client`` against a real node and Redis.

The host starts an auction with the client; two viewers bid with it, one with a max bid
that proxy-bids for her. Every client's ``state`` shows the price the proxy rule gives
and the right leader, the markers say who was outbid and when the end moved, the close
arrives once, and the winner's order (charged to the card given with her max bid) is in
the show's orders with the unit sold. A bid retried with its key is not counted twice.
A cancel before any bid gives the unit back. A giveaway started with the client draws
the one viewer who chatted, and the draw checks out from the revealed seed.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from livecart import client
from livecart.checkout.sandbox import APPROVE_CARD
from livecart.client.connection import RoomConnection
from tests.hubclient import ADMIN, Node, create_room
from tests.roomclient import until, until_state


async def show_api(http: aiohttp.ClientSession, node: Node, room: str, path: str) -> Any:
    async with http.get(
        f"{node.url}/api/rooms/{room}/{path}", headers={"Authorization": f"Bearer {ADMIN}"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def markers(seen: list[client.Event], kind: type) -> list[Any]:
    return [e for e in seen if isinstance(e, kind)]


async def test_an_auction_run_through_the_client(http: aiohttp.ClientSession, node: Node) -> None:
    token = await create_room(http, node)
    async with (
        client.connect(node.url, "r1", token=token) as host,
        client.connect(node.url, "r1", name="Ann") as ann,
        client.connect(node.url, "r1", name="Bob", subprotocol="msgpack") as bob,
    ):
        product = await host.add_product("Vintage lamp", 900, "USD", stock=1)
        with pytest.raises(client.CommandError) as early:
            await bob.bid_next()
        assert early.value.code == "not_found"
        started = await host.start_auction(
            product["id"], 1000, duration=5, counter_seconds=5, key="start-lamp-1"
        )
        assert started.running and started.price == 1000 and started.next_bid == 1000
        assert await host.start_auction(
            product["id"], 1000, duration=5, counter_seconds=5, key="start-lamp-1"
        ) == started  # fmt: skip
        bob_seen: list[client.Event] = []
        ann_seen: list[client.Event] = []
        await until(bob, lambda e: isinstance(e, client.AuctionStarted), seen=bob_seen)
        await until(ann, lambda e: isinstance(e, client.AuctionStarted), seen=ann_seen)
        assert bob.state.auction is not None and bob.state.auction.id == started.id
        assert 0 < bob.state.auction_time_left() <= 5

        # Bob taps once (the next bid), then Ann sets a max bid: the proxy rule makes
        # her the leader at one increment over Bob's max, and Bob is told he is outbid
        first = await bob.bid_next(key="bob-tap-0001")
        assert first.leading and first.auction.price == 1000 and bob.state.my_max == 1000
        proxy = await ann.bid(started.id, 3000, key="ann-max-0001", card=APPROVE_CARD)
        assert proxy.leading and proxy.auction.price == 1100
        await until(bob, lambda e: isinstance(e, client.Outbid), seen=bob_seen)
        assert not bob.state.leading
        with pytest.raises(client.CommandError) as low:
            await bob.bid(started.id, 1000, key="bob-tap-0002")
        assert low.value.code == "bid_too_low"
        # a higher max from Bob still loses to Ann's: accepted, but not leading
        raised = await bob.bid(started.id, 1500, key="bob-max-0001")
        assert not raised.leading and raised.auction.price == 1600
        again = await bob.bid(started.id, 1500, key="bob-max-0001")  # a retry
        assert again.auction.bids == raised.auction.bids == 3
        with pytest.raises(client.CommandError) as reused:
            await bob.bid(started.id, 1700, key="bob-max-0001")
        assert reused.value.code == "key_reused"
        with pytest.raises(client.CommandError) as forbidden:
            await host.bid(started.id, 5000)
        assert forbidden.value.code == "forbidden"
        with pytest.raises(client.CommandError) as has_bids:
            await host.cancel_auction(started.id)
        assert has_bids.value.code == "has_bids"

        for room in (host, ann, bob):
            await until_state(room, lambda r=room: _bids(r) == 3)  # type: ignore[misc]
            a = room.state.auction
            assert a is not None and a.running
            assert (a.price, a.leader_vid, a.next_bid) == (1600, ann.you.vid, 1700)
            assert a.last_bid == client.Bid("B***b", bob.you.vid, 1500)
        assert ann.state.leading and ann.state.my_max == 3000 and bob.state.my_max == 1500

        # the close by Redis' clock, once, then the charge to Ann's saved card
        await until(ann, lambda e: isinstance(e, client.AuctionSettled), 15, ann_seen)
        await until(bob, lambda e: isinstance(e, client.AuctionSettled), 15, bob_seen)
        for seen in (ann_seen, bob_seen):
            assert len(markers(seen, client.AuctionStarted)) == 1
            assert len(markers(seen, client.AuctionClosed)) == 1
            assert len(markers(seen, client.AuctionSettled)) == 1
            assert sum(m.new_bids for m in markers(seen, client.BidPlaced)) == 3
            assert markers(seen, client.AuctionExtended)  # every bid came within 5 s
        assert markers(ann_seen, client.Outbid) == []
        final = ann.state.auction
        assert final is not None and final.state == "sold" and final.order_id
        assert final.winner == client.Winner("A***n", ann.you.vid) and final.price == 1600
        assert ann.state.won and not bob.state.won and ann.state.auction_time_left() == 0.0
        assert final.resets >= 1
        with pytest.raises(client.CommandError) as late:
            await bob.bid(started.id, 9000)
        assert late.value.code == "auction_closed"

    orders = (await show_api(http, node, "r1", "orders.json"))["orders"]
    assert [(o["id"], o["amount"], o["buyer_vid"]) for o in orders] == [
        (final.order_id, 1600, ann.you.vid)
    ]
    assert orders[0]["charge_id"] not in ("", "free")  # charged to the saved card
    stock = (await show_api(http, node, "r1", "figures"))["stock"][product["id"]]
    assert stock == {"initial": 1, "available": 0, "reserved": 0, "sold": 1}


def _bids(room: RoomConnection) -> int:
    return -1 if room.state.auction is None else room.state.auction.bids


async def test_a_cancel_before_any_bid_gives_the_unit_back(
    http: aiohttp.ClientSession, node: Node
) -> None:
    token = await create_room(http, node)
    async with (
        client.connect(node.url, "r1", token=token) as host,
        client.connect(node.url, "r1", name="Ann") as ann,
    ):
        product = await host.add_product("Mug", 500, "USD", stock=2)
        started = await host.start_auction(product["id"], 300, duration=60)
        with pytest.raises(client.CommandError) as running:
            await host.start_auction(product["id"], 300, duration=60)
        assert running.value.code == "auction_running"
        reserved = (await show_api(http, node, "r1", "figures"))["stock"][product["id"]]
        assert reserved == {"initial": 2, "available": 1, "reserved": 1, "sold": 0}
        cancelled = await host.cancel_auction(started.id)
        assert cancelled.state == "cancelled"
        seen: list[client.Event] = []
        await until(ann, lambda e: isinstance(e, client.AuctionCancelled), seen=seen)
        assert markers(seen, client.AuctionClosed) == []
        assert ann.state.auction is not None and ann.state.auction.closed
        with pytest.raises(client.CommandError) as closed:
            await ann.bid(started.id, 300)
        assert closed.value.code == "auction_closed"
    stock = (await show_api(http, node, "r1", "figures"))["stock"][product["id"]]
    assert stock == {"initial": 2, "available": 2, "reserved": 0, "sold": 0}


async def test_a_giveaway_run_through_the_client(http: aiohttp.ClientSession, node: Node) -> None:
    token = await create_room(http, node)
    async with (
        client.connect(node.url, "r1", token=token) as host,
        client.connect(node.url, "r1", name="Ann") as ann,
        client.connect(node.url, "r1", name="Bob") as bob,
    ):
        product = await host.add_product("Tote bag", 0, "USD", stock=1)
        with pytest.raises(client.CommandError) as bad:
            await host.start_giveaway(product["id"], "sang", duration=5)
        assert bad.value.code == "bad_args"
        opened = await host.start_giveaway(product["id"], "chatted", duration=5)
        assert opened.open and len(opened.commitment) == 64 and opened.seed is None
        assert not opened.verify()  # nothing to check before the draw
        await until(ann, lambda e: isinstance(e, client.GiveawayOpened))
        assert ann.state.giveaway == opened and 0 < ann.state.giveaway_time_left() <= 5
        await ann.chat("count me in")  # Bob never chats
        await host.chat("good luck")  # the host never qualifies
        drawn = await until(bob, lambda e: isinstance(e, client.GiveawayDrawn), 15)
        assert isinstance(drawn, client.GiveawayDrawn)
        g = drawn.giveaway
        assert g.state == "drawn" and g.eligible == (ann.you.vid,)
        assert g.winner is not None and g.winner.vid == ann.you.vid and g.verify()
        assert client.recompute_draw(g.seed or "", [bob.you.vid, ann.you.vid]) in (
            ann.you.vid,
            bob.you.vid,
        )
        assert bob.state.giveaway == g and bob.state.giveaway_time_left() == 0.0
        await until_state(ann, lambda: ann.state.giveaway is not None and ann.state.giveaway.drawn)
        assert ann.state.giveaway is not None and ann.state.giveaway.order_id == g.order_id
    orders = (await show_api(http, node, "r1", "orders.json"))["orders"]
    assert [(o["id"], o["amount"], o["buyer_vid"]) for o in orders] == [
        (g.order_id, 0, ann.you.vid)
    ]
