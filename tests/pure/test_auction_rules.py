"""The auction's pure rules: the increment table, proxy bids (ties included), resets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.checkout.auction_rules import (
    DEFAULT_INCREMENTS,
    Auction,
    check_increments,
    increment,
    resolve,
)


def test_default_table_is_whatnots_dollar_steps_rising_with_the_price() -> None:
    assert increment(DEFAULT_INCREMENTS, 0) == 100
    assert increment(DEFAULT_INCREMENTS, 1_999) == 100
    assert increment(DEFAULT_INCREMENTS, 2_000) == 200
    assert increment(DEFAULT_INCREMENTS, 9_999) == 200
    assert increment(DEFAULT_INCREMENTS, 10_000) == 500
    assert increment(DEFAULT_INCREMENTS, 10**9) == 10_000


@pytest.mark.parametrize(
    "table", [[], [[1, 100]], [[0, 100], [0, 200]], [[0, 0]], [[0, 100], [50, -1]]]
)
def test_bad_tables_are_refused(table: list[list[int]]) -> None:
    with pytest.raises(ValueError):
        check_increments(table)


def auction(**kw: object) -> Auction:
    base: dict[str, object] = {"start_price": 500, "ends_at": 30_000, "counter_ms": 10_000}
    base.update(kw)
    return Auction(**base)  # type: ignore[arg-type]


def test_first_bid_is_the_start_price_and_the_sole_bidder_pays_it() -> None:
    a = auction()
    assert a.next_bid == 500
    a, out = a.bid("v1", 5_000, 1_000)
    assert out.accepted and out.leading
    assert (a.leader, a.price, a.next_bid) == ("v1", 500, 600)


def test_leader_pays_one_increment_over_the_second_max_capped_at_its_own() -> None:
    a, _ = auction().bid("v1", 5_000, 1_000)
    a, out = a.bid("v2", 1_200, 1_100)
    assert out.accepted and not out.leading  # outbid at once by v1's max
    assert (a.leader, a.price) == ("v1", 1_300)
    a, out = a.bid("v2", 4_950, 1_200)
    assert (a.leader, a.price) == ("v1", 5_000)  # 4950 + 200 capped at 5000
    a, out = a.bid("v2", 6_000, 1_300)
    assert out.leading and (a.leader, a.price) == ("v2", 5_200)


def test_tie_the_earlier_max_wins_at_its_max() -> None:
    a, _ = auction().bid("v1", 3_000, 1_000)
    a, out = a.bid("v2", 3_000, 1_100)
    assert out.accepted and not out.leading
    assert (a.leader, a.price) == ("v1", 3_000)
    assert resolve([("v1", 3_000), ("v2", 3_000)], 500) == ("v1", 3_000)
    assert resolve([("v2", 3_000), ("v1", 3_000)], 500) == ("v2", 3_000)


def test_too_low_and_own_max_not_raised_are_refused_and_change_nothing() -> None:
    a, _ = auction().bid("v1", 1_000, 1_000)
    for vid, amount in (("v2", 550), ("v1", 1_000), ("v1", 700)):
        after, out = a.bid(vid, amount, 1_100)
        assert not out.accepted and out.refused == "bid_too_low" and after is a


def test_counter_bid_resets_the_end_but_not_in_sudden_death() -> None:
    a, out = auction().bid("v1", 600, 25_000)
    assert out.reset and a.ends_at == 35_000 and a.resets == 1
    a, out = auction().bid("v1", 600, 15_000)
    assert not out.reset and a.ends_at == 30_000
    a, out = auction(sudden_death=True).bid("v1", 600, 29_999)
    assert not out.reset and a.ends_at == 30_000


def test_no_bid_at_or_after_the_end() -> None:
    a = auction()
    assert a.bid("v1", 600, 30_000)[1].refused == "auction_closed"
    assert a.bid("v1", 600, 29_999)[1].accepted


def test_reserve_raises_the_price_once_the_leaders_max_reaches_it() -> None:
    a, _ = auction(reserve=2_000).bid("v1", 1_500, 1)
    assert not a.reserve_met and a.price == 500
    a, _ = a.bid("v1", 2_500, 2)
    assert a.reserve_met and a.price == 2_000


bids = st.lists(
    st.tuples(st.sampled_from(["v1", "v2", "v3", "v4"]), st.integers(0, 20_000)), max_size=30
)


@given(bids, st.sampled_from([None, 3_000]))
def test_incremental_rules_agree_with_the_whole_recomputation(
    seq: list[tuple[str, int]], reserve: int | None
) -> None:
    a = auction(reserve=reserve, ends_at=10**9)
    accepted: list[tuple[str, int]] = []
    last_price = 0
    for n, (vid, amount) in enumerate(seq):
        a, out = a.bid(vid, amount, n)
        if out.accepted:
            accepted.append((vid, amount))
            assert a.price >= last_price  # the price never goes down
            last_price = a.price
        assert a.price <= max(a.leader_max, a.start_price)
    leader, price = resolve(accepted, 500, reserve)
    assert (a.leader, a.price if accepted else 0) == (leader, price)
