"""A Hypothesis state machine over a real Redis: bids, max bids, time passing, closes,
second closes and node restarts; Redis' scripts held against the pure rules."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any, ClassVar

import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from livecart.checkout.auction_rules import Auction
from livecart.checkout.auctions import AuctionTerms
from livecart.checkout.errors import CheckoutError
from livecart.checkout.sandbox import APPROVE_CARD, SandboxProvider
from livecart.checkout.service import CheckoutService
from livecart.redis_process import RedisProcess

ROOM = "auct"
VIDS = ["vaaaaaaa", "vbbbbbbb", "vccccccc"]


class AuctionMachine(RuleBasedStateMachine):
    server: ClassVar[RedisProcess]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(self.server.url)
        self.provider = SandboxProvider()
        self.svc = CheckoutService(self.client, self.provider)
        self.model: Auction | None = None
        self.aid = ""
        self.closed_count = 0
        self.keys: dict[str, dict[str, Any]] = {}

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def redis_now(self) -> int:
        sec, usec = await self.client.time()
        return int(sec) * 1000 + int(usec) // 1000

    @initialize(sudden=st.booleans())
    def start(self, sudden: bool) -> None:
        self.run(self.client.flushdb())
        self.run(self.svc.init_stock(ROOM, "p1", 2))
        terms = AuctionTerms("p1", "USD", 500, 600, 200, sudden_death=sudden)
        view = self.run(self.svc.auctions.start(ROOM, terms, "start-" + secrets.token_hex(4)))
        self.aid = view["id"]
        self.model = Auction(500, view["ends_at"], 200, sudden_death=sudden)

    @rule(vid=st.sampled_from(VIDS), extra=st.integers(0, 3_000), replay=st.booleans())
    def bid(self, vid: str, extra: int, replay: bool) -> None:
        assert self.model is not None
        amount = max(1, self.model.next_bid - 150 + extra)
        key = next(iter(self.keys)) if replay and self.keys else "b" + secrets.token_hex(6)
        args = self.keys.get(key, {"vid": vid, "max_bid": amount})
        try:
            reply = self.run(
                self.svc.auctions.bid(ROOM, self.aid, name="N", key=key, card=APPROVE_CARD, **args)
            )
        except CheckoutError as exc:
            if key in self.keys:
                return  # a replayed refusal: already checked
            self.keys[key] = args
            if exc.code == "bid_too_low":
                after, out = self.model.bid(args["vid"], args["max_bid"], self.model.ends_at - 1)
                assert not out.accepted and out.refused == "bid_too_low"
            else:
                assert exc.code == "auction_closed"
                assert self.model.closed or self.run(self.redis_now()) >= self.model.ends_at
            return
        if key in self.keys:
            return  # replay: the stored first reply, checked then
        self.keys[key] = args
        view = reply["auction"]
        after, out = self.model.bid(args["vid"], args["max_bid"], view["server_now"])
        assert out.accepted, (out, view)
        assert (view["leader_vid"], view["price"], view["ends_at"], view["resets"]) == (
            after.leader, after.price, after.ends_at, after.resets,
        )  # fmt: skip
        assert reply["leading"] == out.leading
        self.model = after

    @rule(ms=st.integers(20, 300))
    def time_passes(self, ms: int) -> None:
        self.run(asyncio.sleep(ms / 1000))

    @rule()
    def close(self) -> None:
        assert self.model is not None
        step = self.run(self.svc.auctions.close(ROOM, self.aid))
        if step.changed:
            self.closed_count += 1
            assert step.view["server_now"] >= self.model.ends_at
            self.model = Auction(**{**_fields(self.model), "closed": True})
        if step.view["state"] == "won":
            settled = self.run(self.svc.auctions.settle(ROOM, self.aid))
            assert settled.view["state"] == "sold"

    @rule()
    def second_close(self) -> None:
        if self.model is not None and self.model.closed:
            assert not self.run(self.svc.auctions.close(ROOM, self.aid)).changed

    @rule()
    def node_restart(self) -> None:
        self.run(self.client.aclose())
        self.client = aioredis.Redis.from_url(self.server.url)
        self.run(self.client.script_flush())
        self.svc = CheckoutService(self.client, self.provider)

    @invariant()
    def books_balance_and_one_winner(self) -> None:
        if self.model is None:
            return
        assert self.run(self.svc.audit(ROOM)) == []
        assert self.closed_count <= 1
        _, orders = self.run(self.svc.export(ROOM))
        view = self.run(self.svc.auctions.current(ROOM))
        if view["state"] == "sold":
            assert [(o["buyer_vid"], o["amount"]) for o in orders] == [
                (self.model.leader, self.model.price)
            ]
        else:
            assert orders == []

    def teardown(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()


def _fields(a: Auction) -> dict[str, Any]:
    return {name: getattr(a, name) for name in Auction.__slots__}  # type: ignore[attr-defined]


def test_auction_state_machine(redis_server: RedisProcess) -> None:
    AuctionMachine.server = redis_server
    if not redis_server.running:
        redis_server.start()
    AuctionMachine.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    AuctionMachine.TestCase().runTest()
