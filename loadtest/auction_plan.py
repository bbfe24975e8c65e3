"""The ``auction`` load test's plan and verdict: plain data, no I/O.

Who bids, when and how high (:func:`plan_bids`), and what the auction must end as given
the bids the server accepted (:func:`expected` and :func:`verdict`), by the same pure
rules the server's script follows (``checkout.auction_rules``).

The bids: ``bidders`` viewers each send one max bid at a random moment of the storm
(the auction's last ``storm`` seconds by its first end). Ordered by that moment, the
k-th bidder's max is ``start + step * (k + 1)`` plus a random ``0 .. 2 * step``: bids
mostly climb, and bids racing each other are refused as too low now and then, as in a
real storm. The increments are one flat step (``INCREMENTS``) so that the climb stays
above the next bid.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from livecart.checkout import auction_rules as rules

INCREMENTS: rules.Increments = ((0, 100),)
STEP = 300  # minor units between consecutive bidders' maxes


@dataclass(frozen=True, slots=True)
class BidPlan:
    """One planned bid: which viewer (its index in the crowd), when (seconds after the storm
    starts) and its max bid."""

    viewer: int  # the viewer's index in the crowd
    at: float  # seconds after the storm starts
    max: int


def plan_bids(
    viewers: int, bidders: int, storm: float, start: int, seed: int, step: int = STEP
) -> list[BidPlan]:
    """One bid for each of ``bidders`` viewers drawn among ``viewers``, in time order."""
    rng = random.Random(seed)
    who = rng.sample(range(viewers), min(bidders, viewers))
    times = sorted(rng.uniform(0.0, storm) for _ in who)
    return [
        BidPlan(v, t, start + step * (k + 1) + rng.randint(0, 2 * step))
        for k, (v, t) in enumerate(zip(who, times, strict=True))
    ]


@dataclass(frozen=True, slots=True)
class BidResult:
    """One bid's definite reply as a bidder saw it (``code`` empty when accepted)."""

    vid: str
    max: int
    accepted: bool
    code: str
    ms: float


def expected(
    accepted: Sequence[tuple[str, int]], start: int, table: rules.Increments = INCREMENTS
) -> tuple[frozenset[str], int]:
    """(who may win, the price) from the accepted ``(vid, max)`` bids, one per bidder.

    The price depends only on the two highest maxes, so the order of the replies does
    not matter; on a tie for the highest max, the earlier bid wins and the client cannot
    tell which reached Redis first, so any of the tied bidders may."""
    if not accepted:
        return frozenset(), 0
    _, price = rules.resolve(accepted, start, None, table)
    top = max(m for _, m in accepted)
    return frozenset(v for v, m in accepted if m == top), price


@dataclass(frozen=True, slots=True)
class Verdict:
    """The auction test's verdict: ``passed`` or the ``reasons`` it failed, with the price
    and the possible winners the accepted bids called for."""

    passed: bool
    reasons: tuple[str, ...]
    expected_price: int
    expected_winners: frozenset[str]


def verdict(
    results: Iterable[BidResult],
    planned: int,
    start: int,
    final: dict[str, object] | None,
    orders: Sequence[dict[str, object]],
    table: rules.Increments = INCREMENTS,
) -> Verdict:
    """PASS when every planned bid got a definite reply, the auction ended ``sold`` to
    a bidder allowed to win at exactly the expected price, and the show holds one order
    for it at that price."""
    got = list(results)
    accepted = [(r.vid, r.max) for r in got if r.accepted]
    winners, price = expected(accepted, start, table)
    why: list[str] = []
    if len(got) < planned:
        why.append(f"{planned - len(got)} bids got no definite reply")
    if final is None:
        why.append("the auction's final state was not seen")
    else:
        winner = final.get("winner")
        vid = winner.get("vid") if isinstance(winner, dict) else None
        if final.get("state") != "sold":
            why.append(f"the auction ended {final.get('state')!r}, not 'sold'")
        if accepted and vid not in winners:
            why.append(f"winner {vid!r} is not the highest max bidder")
        if accepted and final.get("price") != price:
            why.append(f"final price {final.get('price')} != expected {price}")
    if accepted and (len(orders) != 1 or orders[0].get("amount") != price):
        amounts = [o.get("amount") for o in orders]
        why.append(f"expected one order at {price}, found {amounts}")
    return Verdict(not why, tuple(why), price, winners)
