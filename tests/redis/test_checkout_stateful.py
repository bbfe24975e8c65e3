"""Hypothesis drives reserve / pay (approve, decline, timeout) / clock / sweep / Redis
SIGKILL+restart, including a crash in the middle of a call, against a real redis-server.

After every step: the books balance (``CheckoutService.audit``: initial = available +
reserved + sold, holds and orders agree), every order a buyer was told about is still in
the orders stream, units sold equal the units of those orders, and every reservation
only ever moved along the life-cycle table.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from livecart.checkout.errors import CheckoutError
from livecart.checkout.lifecycle import is_legal_path
from livecart.checkout.sandbox import APPROVE_CARD, DECLINE_CARD, TIMEOUT_CARD, SandboxProvider
from livecart.checkout.service import CheckoutService
from livecart.redis_process import RedisProcess
from tests.clocks import FakeClock

ROOM = "prop"
PRODUCTS = {"p1": 4, "p2": 3}
BUY_OUTCOMES = {"sold_out", "limit_reached", "key_reused", "sale_not_open"}
PAY_OUTCOMES = {"hold_expired", "payment_declined", "payment_timeout", "key_reused"}


class CheckoutMachine(RuleBasedStateMachine):
    server: ClassVar[RedisProcess]
    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.provider = SandboxProvider(timeout=0.01)
        self.client = aioredis.Redis.from_url(self.server.url, retry=Retry(NoBackoff(), 2))
        self.svc = CheckoutService(
            self.client,
            self.provider,
            clock=self.clock,
            charge_timeout=0.5,
            pay_lease_seconds=1.0,
            in_progress_wait=0.0,
            confirm_retry_seconds=0.1,
        )
        self.orders: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[str]] = collections.defaultdict(list)

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def settle(self, call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any] | str:
        """Retry with the same key until the answer is definite; a payment lease left by
        a crash is waited out by moving the clock past it."""
        for _ in range(50):
            try:
                return self.run(call())
            except CheckoutError as exc:
                if exc.code == "unavailable":
                    if not self.server.running:
                        self.server.start()
                    time.sleep(0.02)
                elif exc.code == "in_progress":
                    self.clock.t += exc.retry_after or 1.0
                else:
                    return exc.code
        raise AssertionError("no definite answer after 50 retries")

    @initialize()
    def setup(self) -> None:
        if not self.server.running:
            self.server.start()
        self.run(self.client.flushall())
        for pid, units in PRODUCTS.items():
            self.run(self.svc.init_stock(ROOM, pid, units))
            self.run(self.svc.open_sale(ROOM, pid, price=250, currency="CNY", units=units, limit=3))

    def _buy(self, buyer: int, pid: str, qty: int, key: int) -> Callable[[], Awaitable[Any]]:
        return lambda: self.svc.buy(
            ROOM,
            pid,
            buyer_vid=f"v{buyer}",
            buyer_name=f"B{buyer}",
            qty=qty,
            key=f"buykey-{key:03}",
        )

    def _record_buy(self, result: dict[str, Any] | str, buyer: int) -> Any:
        if isinstance(result, str):
            assert result in BUY_OUTCOMES, result
            return multiple()
        self._first_seen(result["id"])
        return (result["id"], f"v{buyer}")

    def _first_seen(self, rid: str) -> None:
        # a replayed key returns the reservation as it was first made; only a new
        # reservation id is an observation of the state "reserved"
        if rid not in self.history:
            self.history[rid].append("reserved")

    @rule(
        target=reservations,
        buyer=st.integers(0, 3),
        pid=st.sampled_from(sorted(PRODUCTS)),
        qty=st.integers(1, 3),
        key=st.integers(0, 30),
    )
    def buy(self, buyer: int, pid: str, qty: int, key: int) -> Any:
        return self._record_buy(self.settle(self._buy(buyer, pid, qty, key)), buyer)

    def _pay(self, res: tuple[str, str], card: str, key: int) -> Callable[[], Awaitable[Any]]:
        rid, vid = res
        return lambda: self.svc.pay(ROOM, rid, buyer_vid=vid, card=card, key=f"paykey-{key:03}")

    def _record_pay(self, result: dict[str, Any] | str) -> None:
        if isinstance(result, str):
            assert result in PAY_OUTCOMES, result
            return
        previous = self.orders.setdefault(result["id"], result)
        assert previous == result  # the same order, whichever key found it

    @rule(
        res=reservations,
        card=st.sampled_from([APPROVE_CARD, APPROVE_CARD, DECLINE_CARD, TIMEOUT_CARD]),
        key=st.integers(0, 30),
    )
    def pay(self, res: tuple[str, str], card: str, key: int) -> None:
        self._record_pay(self.settle(self._pay(res, card, key)))

    @rule(
        res=reservations,
        key=st.integers(0, 30),
        seconds=st.sampled_from([1, 301]),
        sweep=st.booleans(),
    )
    def time_passes_during_the_charge(
        self, res: tuple[str, str], key: int, seconds: int, sweep: bool
    ) -> None:
        """The hold may expire (and be swept) while the provider is approving: the
        payment must end as a refund, never as an order on units already given back."""

        async def race() -> dict[str, Any] | str:
            self.provider.latency = 0.02
            task = asyncio.ensure_future(self._pay(res, APPROVE_CARD, key)())
            await asyncio.sleep(0.01)
            self.clock.t += seconds
            if sweep:
                await self.svc.sweep(ROOM)
            try:
                return await task
            except CheckoutError as exc:
                return exc.code
            finally:
                self.provider.latency = 0.0

        self._record_pay(self.run(race()))
        refunded = self.run(self.client.zcard(f"lc:{{{ROOM}}}:refunds"))
        assert refunded == 0, "a late payment was not refunded"
        charged = {c.charge_id for c in self.provider.charges.values()}
        ordered = {o["charge_id"] for o in self.orders.values()}
        assert charged == ordered | set(self.provider.refunds), "money without order or refund"

    @rule(seconds=st.sampled_from([1, 60, 299, 301]))
    def advance_clock(self, seconds: int) -> None:
        self.clock.t += seconds

    @rule()
    def sweep(self) -> None:
        self.settle(lambda: _as_dict(self.svc.sweep()))

    @rule()
    def restart_redis(self) -> None:
        self.server.restart(hard=True)

    @rule(
        res=reservations,
        key=st.integers(0, 30),
        delay=st.sampled_from([0.0, 0.001, 0.003, 0.01]),
        paying=st.booleans(),
        buyer=st.integers(0, 3),
        pid=st.sampled_from(sorted(PRODUCTS)),
    )
    def crash_during_a_call(
        self, res: tuple[str, str], key: int, delay: float, paying: bool, buyer: int, pid: str
    ) -> None:
        call = self._pay(res, APPROVE_CARD, key) if paying else self._buy(buyer, pid, 1, key)

        async def race() -> dict[str, Any] | str:
            task = asyncio.ensure_future(call())
            await asyncio.sleep(delay)
            self.server.kill()
            try:
                return await task
            except CheckoutError as exc:
                return exc.code

        first = self.run(race())
        self.server.start()
        result = self.settle(call) if first in ("unavailable", "in_progress") else first
        if paying:
            self._record_pay(result)
        elif isinstance(result, dict):
            self._first_seen(result["id"])

    @invariant()
    def books_balance(self) -> None:
        if not self.server.running:
            return
        assert self.run(self.svc.audit(ROOM)) == []
        records, _ = self.run(self.svc.orders_after(ROOM, "0", count=1000))
        in_stream = {r["id"]: r for r in records}
        assert set(self.orders) <= set(in_stream), "a confirmed order disappeared"
        assert len(in_stream) == len(self.orders)
        stock = self.run(self.svc.stock(ROOM))
        for pid in PRODUCTS:
            sold = sum(o["qty"] for o in self.orders.values() if o["product_id"] == pid)
            assert stock[pid]["sold"] == sold

    @invariant()
    def life_cycle_is_followed(self) -> None:
        if not self.server.running or not self.history:
            return
        keys = [f"lc:{{{ROOM}}}:hold:{rid}" for rid in self.history]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "state")
        for rid, state in zip(self.history, self.run(pipe.execute()), strict=True):
            self.history[rid].append(state.decode())
            assert is_legal_path(self.history[rid]), self.history[rid]

    def teardown(self) -> None:
        if not self.server.running:
            self.server.start()
        self.run(self.client.aclose())
        self.loop.close()


async def _as_dict(coro: Awaitable[int]) -> dict[str, Any]:
    return {"expired": await coro}


def test_checkout_state_machine(redis_server: RedisProcess) -> None:
    CheckoutMachine.server = redis_server
    run_state_machine_as_test(
        CheckoutMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.fixture(autouse=True)
def _redis_running(redis_server: RedisProcess) -> Any:
    yield
    if not redis_server.running:
        redis_server.start()
