"""The auction's rules as plain data: increments, proxy bidding, the counter-bid reset.

``checkout/lua/auction_bid.lua`` decides bids in Redis by exactly these rules (the tests
hold the two against each other); docs/auctions.md states them for people.

- ``increment(table, price)``: the step of the last row ``(from, step)`` with
  ``from <= price``.
- ``Auction.bid(vid, max, now)``: one bid, returning the next state and the outcome.
  Every bid is a max bid: the leader is the highest max (the earlier one on a tie), the
  price is ``start_price`` with one bidder, else ``min(leader_max, second_max +
  increment(second_max))``, raised to the reserve when the leader's max reaches it.
- ``Auction.extend``: an accepted bid with less than ``counter_ms`` left moves the end
  to ``now + counter_ms``, unless the auction is sudden death.
- ``resolve(bids, ...)``: the leader and price recomputed from every bid at once (a
  second statement of the same rule, for the tests).

Pure: no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from livecart.limits import MAX_INCREMENT_ROWS, MAX_PRICE

Increments = tuple[tuple[int, int], ...]

DEFAULT_INCREMENTS: Increments = (
    (0, 100),
    (2_000, 200),
    (10_000, 500),
    (50_000, 1_000),
    (100_000, 2_500),
    (500_000, 10_000),
)


def check_increments(table: Sequence[Sequence[int]]) -> Increments:
    """``table`` as an ``Increments`` tuple; ``ValueError`` unless it starts at 0, rises
    strictly, and every step and every row's price is at most ``MAX_PRICE``."""
    rows = tuple((int(a), int(b)) for a, b in table)
    if not rows or len(rows) > MAX_INCREMENT_ROWS:
        raise ValueError(f"increments: 1-{MAX_INCREMENT_ROWS} rows")
    if rows[0][0] != 0:
        raise ValueError("increments: the first row starts at 0")
    for (a, _), (b, _) in itertools.pairwise(rows):
        if b <= a:
            raise ValueError("increments: the rows' prices must rise")
    if any(not 1 <= step <= MAX_PRICE or start > MAX_PRICE for start, step in rows):
        raise ValueError(f"increments: steps are 1 to {MAX_PRICE}")
    return rows


def increment(table: Increments, price: int) -> int:
    """The step at ``price``: the last row whose ``from`` is at most ``price``."""
    step = table[0][1]
    for start, value in table:
        if start > price:
            break
        step = value
    return step


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one bid did: ``accepted`` (else ``refused`` is the error code),
    ``leading`` (the bidder leads after it), ``reset`` (the end moved)."""

    accepted: bool
    leading: bool = False
    reset: bool = False
    refused: str = ""


@dataclass(frozen=True, slots=True)
class Auction:
    """One auction's state (times in ms on the deciding clock)."""

    start_price: int
    ends_at: int
    counter_ms: int
    sudden_death: bool = False
    reserve: int | None = None
    increments: Increments = DEFAULT_INCREMENTS
    price: int = 0
    leader: str | None = None
    leader_max: int = 0
    second_max: int | None = None
    bids: int = 0
    resets: int = 0
    closed: bool = False

    @property
    def next_bid(self) -> int:
        """The least acceptable ``max``: the start price, then price + increment."""
        if self.leader is None:
            return self.start_price
        return self.price + increment(self.increments, self.price)

    @property
    def reserve_met(self) -> bool:
        """Whether there is a leader whose max bid reaches the reserve (any leader when there
        is no reserve): the auction would be won if it closed now."""
        return self.leader is not None and (self.reserve is None or self.leader_max >= self.reserve)

    def running(self, now: int) -> bool:
        """Whether bids are still taken at ``now``: not closed and before ``ends_at``."""
        return not self.closed and now < self.ends_at

    def bid(self, vid: str, max_bid: int, now: int) -> tuple[Auction, Outcome]:
        """Apply one bid at ``now``; a refusal returns ``self`` unchanged."""
        if not self.running(now):
            return self, Outcome(False, refused="auction_closed")
        if max_bid < self.next_bid or (vid == self.leader and max_bid <= self.leader_max):
            return self, Outcome(False, refused="bid_too_low")
        leader, leader_max, second = self.leader, self.leader_max, self.second_max
        if vid == leader:
            leader_max = max_bid
        elif leader is None or max_bid > leader_max:
            second = leader_max if leader is not None else None
            leader, leader_max = vid, max_bid
        else:  # a tie or less: the earlier max keeps the lead
            second = max_bid if second is None else max(second, max_bid)
        price = price_for(self.start_price, leader_max, second, self.reserve, self.increments)
        ends_at, reset = self.extend(now)
        after = replace(
            self,
            price=max(price, self.price),
            leader=leader,
            leader_max=leader_max,
            second_max=second,
            bids=self.bids + 1,
            ends_at=ends_at,
            resets=self.resets + reset,
        )
        return after, Outcome(True, leading=leader == vid, reset=reset)

    def extend(self, now: int) -> tuple[int, bool]:
        """The end after an accepted bid at ``now``, and whether it moved."""
        if self.sudden_death or self.ends_at - now >= self.counter_ms:
            return self.ends_at, False
        return now + self.counter_ms, True


def price_for(
    start: int, leader_max: int, second_max: int | None, reserve: int | None, table: Increments
) -> int:
    """The price the leader pays (see the module docstring)."""
    if second_max is None:
        price = start
    else:
        price = max(start, min(leader_max, second_max + increment(table, second_max)))
    if reserve is not None and leader_max >= reserve:
        price = max(price, min(reserve, leader_max))
    return price


def resolve(
    bids: Sequence[tuple[str, int]],
    start: int,
    reserve: int | None = None,
    table: Increments = DEFAULT_INCREMENTS,
) -> tuple[str | None, int]:
    """(leader, price) from accepted bids in arrival order, each ``(vid, max)``, a
    bidder's later max replacing their earlier one: the leader is the highest max, the
    earliest to reach it on a tie."""
    best: dict[str, tuple[int, int]] = {}  # vid -> (max, arrival of that max)
    for n, (vid, amount) in enumerate(bids):
        best[vid] = (amount, n)
    if not best:
        return None, 0
    order = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
    leader, (top, _) = order[0]
    second = order[1][1][0] if len(order) > 1 else None
    return leader, price_for(start, top, second, reserve, table)
