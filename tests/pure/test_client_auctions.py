"""``livecart.client.auctions`` and the view's auction and giveaway, without a server:
typed objects from wire dicts, the markers between two objects (also across conflated
events), time left counted from arrival, and the giveaway's draw check."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecart import client
from livecart.chat.events import AuctionChanged, GiveawayChanged
from livecart.checkout import giveaway_rules
from livecart.client.auctions import auction_markers, giveaway_markers
from livecart.client.events import Snapshot

ME, RIVAL = "vMe", "vRival"


def wire(**changes: Any) -> dict[str, Any]:
    a: dict[str, Any] = {
        "id": "a_1", "product_id": "p1", "currency": "USD", "state": "running",
        "start_price": 500, "price": 500, "next_bid": 500, "bids": 0, "resets": 0,
        "leader": None, "leader_vid": None, "last_bid": None, "ends_at": 31_000,
        "server_now": 1_000, "duration_ms": 30_000, "counter_ms": 10_000,
        "sudden_death": False, "reserve_met": True, "increments": [[0, 100], [2000, 200]],
        "winner": None, "order_id": None, "reservation_id": None,
    }  # fmt: skip
    a.update(changes)
    return a


def led_by(vid: str, bids: int, price: int, **changes: Any) -> client.Auction:
    return client.Auction.from_wire(
        wire(bids=bids, price=price, next_bid=price + 100, leader="X***x", leader_vid=vid,
             last_bid={"name": "X***x", "vid": vid, "max": price}, **changes)
    )  # fmt: skip


def kinds(markers: list[Any]) -> list[str]:
    return [type(m).__name__ for m in markers]


def test_an_auction_object_reads_typed_and_refuses_what_is_not_one() -> None:
    a = client.Auction.from_wire(wire())
    assert a.running and not a.closed and a.time_left_ms == 30_000
    assert a.increments == ((0, 100), (2000, 200)) and a.winner is None
    sold = client.Auction.from_wire(
        wire(state="sold", winner={"name": "A***e", "vid": ME}, order_id="o_1")
    )
    assert sold.settled and sold.closed and sold.time_left_ms == 0
    assert sold.winner == client.Winner("A***e", ME)
    for bad in (None, [], {}, wire(price="lots"), wire(increments=[[1]]), wire(bids=True)):
        with pytest.raises(ValueError):
            client.Auction.from_wire(bad)


def test_markers_follow_an_auction_bid_by_bid() -> None:
    start = client.Auction.from_wire(wire())
    assert kinds(auction_markers(None, start, ME)) == ["AuctionStarted"]
    mine = led_by(ME, 1, 500)
    assert kinds(auction_markers(start, mine, ME)) == ["BidPlaced"]
    theirs = led_by(RIVAL, 2, 600, resets=1, ends_at=40_000)
    assert kinds(auction_markers(mine, theirs, ME)) == ["BidPlaced", "AuctionExtended", "Outbid"]
    assert auction_markers(theirs, theirs, ME) == []  # a repeat says nothing
    assert auction_markers(theirs, mine, ME) == []  # nor an older one
    won = led_by(RIVAL, 2, 600, resets=1, state="won", winner={"name": "R", "vid": RIVAL})
    assert kinds(auction_markers(theirs, won, ME)) == ["AuctionClosed"]
    sold = led_by(RIVAL, 2, 600, resets=1, state="sold", order_id="o_9")
    assert kinds(auction_markers(won, sold, ME)) == ["AuctionSettled"]


def test_conflated_events_still_give_every_transition_once() -> None:
    mine = led_by(ME, 1, 500)
    sold = led_by(RIVAL, 7, 1400, resets=3, state="sold", order_id="o_9")
    got = auction_markers(mine, sold, ME)
    assert kinds(got) == ["BidPlaced", "AuctionExtended", "Outbid", "AuctionClosed",
                          "AuctionSettled"]  # fmt: skip
    assert got[0].new_bids == 6 and got[1].resets == 3
    other = client.Auction.from_wire(wire(id="a_2"))
    assert kinds(auction_markers(sold, other, ME)) == ["AuctionStarted"]  # a new auction
    cancelled = client.Auction.from_wire(wire(state="cancelled"))
    assert kinds(auction_markers(client.Auction.from_wire(wire()), cancelled, ME)) == [
        "AuctionCancelled"
    ]


def snapshot(**extra: Any) -> Snapshot:
    return Snapshot.from_wire({
        "epoch": "e1", "seq": 5,
        "you": {"vid": ME, "token": "t", "name": "Me", "role": "viewer"},
        "room": {"id": "r1", "title": "Show", "host": "Mia", "status": "live",
                 "slow_mode": 0, "lang": ""},
        **extra,
    })  # fmt: skip


def test_the_view_keeps_the_auction_time_left_and_my_max() -> None:
    view = client.RoomView.from_snapshot(snapshot(auction=None), now=100.0)
    assert view.auction is None and view.auction_time_left(100.0) == 0.0
    got = view.apply(AuctionChanged(seq=6, ts=0.0, auction=wire()), now=200.0)
    assert kinds(got) == ["AuctionStarted"] and view.seq == 6
    assert view.auction_time_left(210.0) == pytest.approx(20.0)
    assert view.auction_time_left(300.0) == 0.0
    view.note_bid("a_1", 900)
    view.note_bid("a_1", 700)  # a lower accepted max never lowers it
    mine = led_by(ME, 1, 500)
    assert kinds(view.apply(AuctionChanged(seq=7, ts=0.0, auction=dict(
        wire(bids=1, leader_vid=ME, last_bid={"name": "M", "vid": ME, "max": 900}))))) == [
        "BidPlaced"
    ]  # fmt: skip
    assert view.leading and view.my_max == 900 and mine.leader_vid == ME
    assert view.apply(AuctionChanged(seq=8, ts=0.0, auction={"nonsense": 1})) == []
    assert view.auction is not None and view.auction.bids == 1 and view.seq == 8
    closed = wire(bids=1, state="sold", winner={"name": "M", "vid": ME}, order_id="o_1")
    view.apply(client.Reset(snapshot(auction=closed)))
    assert view.won and view.my_max == 900 and not view.leading  # a reset keeps my bids


def test_a_snapshot_with_an_unreadable_auction_still_joins() -> None:
    snap = snapshot(auction={"id": "a_1", "price": "?"}, giveaway=None)
    assert snap.auction is None and snap.giveaway is None


def drawn_giveaway(seed: str, eligible: list[str], winner: str | None) -> dict[str, Any]:
    return {
        "id": "g_1", "product_id": "p1", "state": "drawn" if winner else "no_entrants",
        "rule": "chatted", "watched_seconds": None, "ends_at": 10, "server_now": 10,
        "commitment": hashlib.sha256(seed.encode()).hexdigest(), "seed": seed,
        "eligible": eligible, "winner": winner and {"name": "W", "vid": winner},
        "order_id": "o_2" if winner else None,
    }  # fmt: skip


def test_the_draw_check_agrees_with_the_server_rules_and_catches_tampering() -> None:
    seed = giveaway_rules.new_seed()
    people = ["vc", "va", "vb", "vé"]
    winner = giveaway_rules.draw(seed, people)
    assert winner is not None and client.recompute_draw(seed, people) == winner
    g = client.Giveaway.from_wire(drawn_giveaway(seed, people, winner))
    assert g.drawn and g.verify() and g.time_left_ms == 0
    loser = next(p for p in people if p != winner)
    assert not client.Giveaway.from_wire(drawn_giveaway(seed, people, loser)).verify()
    forged = {**drawn_giveaway(seed, people, winner), "commitment": "00" * 32}
    assert not client.Giveaway.from_wire(forged).verify()
    assert client.Giveaway.from_wire(drawn_giveaway(seed, [], None)).verify()
    still_open = {"state": "open", "seed": None, "ends_at": 5_010, "server_now": 10}
    opened = client.Giveaway.from_wire({**drawn_giveaway(seed, [], None), **still_open})
    assert opened.open and not opened.verify() and opened.time_left_ms == 5_000
    assert kinds(giveaway_markers(None, opened)) == ["GiveawayOpened"]
    assert kinds(giveaway_markers(opened, g)) == ["GiveawayDrawn"]
    assert giveaway_markers(g, g) == []
    view = client.RoomView.from_snapshot(snapshot(), now=0.0)
    got = view.apply(GiveawayChanged(seq=6, ts=0.0, giveaway=drawn_giveaway(seed, [], None)))
    assert kinds(got) == ["GiveawayDrawn"] and view.giveaway is not None


def test_an_older_auction_event_overtaken_by_a_newer_one_changes_nothing() -> None:
    """Two bids taken on two workers emit in parallel: the event of the first may come
    second. The view keeps the higher ``version``; another auction is always taken."""
    view = client.RoomView.from_snapshot(snapshot(auction=None), now=100.0)
    view.apply(AuctionChanged(seq=6, ts=0.0, auction=wire(version=1)))
    newer = wire(bids=2, price=700, version=3)
    assert kinds(view.apply(AuctionChanged(seq=7, ts=0.0, auction=newer))) == ["BidPlaced"]
    older = wire(bids=1, price=600, version=2)
    assert view.apply(AuctionChanged(seq=8, ts=0.0, auction=older)) == []
    assert view.auction is not None and view.auction.price == 700 and view.seq == 8
    other = wire(id="a_2", version=1)
    assert kinds(view.apply(AuctionChanged(seq=9, ts=0.0, auction=other))) == ["AuctionStarted"]
    assert view.auction is not None and view.auction.id == "a_2"
    # a server that sends no version: events are taken in seq order, as before
    unversioned = client.RoomView.from_snapshot(snapshot(auction=None), now=100.0)
    unversioned.apply(AuctionChanged(seq=6, ts=0.0, auction=wire(bids=2, price=700)))
    unversioned.apply(AuctionChanged(seq=7, ts=0.0, auction=wire(bids=1, price=600)))
    assert unversioned.auction is not None and unversioned.auction.price == 600


VIDS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32).map(bytes.hex),
    eligible=st.lists(VIDS, max_size=40),
)
def test_the_clients_draw_agrees_with_the_servers(seed: str, eligible: list[str]) -> None:
    """The client's check is written from docs/auctions.md, not copied from
    checkout.giveaway_rules: the two must name the same winner for any seed and any
    entrants (duplicates, non-ASCII ids, one entrant, none)."""
    assert client.recompute_draw(seed, eligible) == giveaway_rules.draw(seed, eligible)
    assert client.recompute_draw(seed, list(reversed(eligible))) == giveaway_rules.draw(
        seed, eligible
    )


def test_the_clients_draw_agrees_on_many_seeds_and_sizes() -> None:
    """Every entrant count from 1 to 300 (the rejection bound differs with each), with
    fresh seeds: the same winner from both."""
    for n in range(1, 301):
        seed = giveaway_rules.new_seed()
        people = [f"v{i:08x}" for i in range(n)]
        assert client.recompute_draw(seed, people) == giveaway_rules.draw(seed, people), n
