"""CheckoutService against a real redis-server: sales, holds, payments, refusals.

Every test ends with an audit of the room's books (initial = available + reserved +
sold, holds and orders agree). The clock is fake so that expiry is instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from livecart.checkout.errors import CheckoutError, ProviderError
from livecart.checkout.payments import ChargeResult, RefundResult, SavedCard
from livecart.checkout.sandbox import APPROVE_CARD, DECLINE_CARD, TIMEOUT_CARD, SandboxProvider
from livecart.checkout.service import CheckoutService
from livecart.checkout.sweeper import sweeping
from livecart.checkout.validation import PayRequest
from livecart.redis_client import AnyRedis
from livecart.redis_process import RedisProcess, free_port
from tests.clocks import FakeClock

ROOM = "demo"


@pytest.fixture
async def redis_client(any_redis: AnyRedis) -> AnyRedis:
    """Every test here runs on one Redis and on a Redis Cluster (``any_redis``)."""
    return any_redis


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider() -> SandboxProvider:
    return SandboxProvider(latency=0.0, timeout=0.05)


@pytest.fixture
async def svc(
    redis_client: aioredis.Redis, provider: SandboxProvider, clock: FakeClock
) -> AsyncIterator[CheckoutService]:
    service = CheckoutService(redis_client, provider, clock=clock, charge_timeout=1.0)
    await redis_client.hset(
        f"lc:{{{ROOM}}}:meta", mapping={"host": "Mia", "commission_rate": "0.1"}
    )
    await service.init_stock(ROOM, "p1", 10)
    await service.open_sale(ROOM, "p1", price=9900, currency="CNY", units=5, limit=2)
    yield service
    assert await service.audit(ROOM) == []


async def buy(svc: CheckoutService, vid: str, key: str, qty: int = 1, pid: str = "p1") -> Any:
    return await svc.buy(ROOM, pid, buyer_vid=vid, buyer_name=f"name-{vid}", qty=qty, key=key)


async def pay(svc: CheckoutService, rid: str, vid: str, key: str, card: str = APPROVE_CARD) -> Any:
    return await svc.pay(ROOM, rid, buyer_vid=vid, card=card, key=key)


async def code_of(coro: Any) -> str:
    with pytest.raises(CheckoutError) as info:
        await coro
    return info.value.code


async def test_buy_then_pay_makes_one_order(
    svc: CheckoutService, provider: SandboxProvider, clock: FakeClock
) -> None:
    res = await buy(svc, "v1", "buy-key-1", qty=2)
    assert res["amount"] == 19800 and res["unit_price"] == 9900 and res["qty"] == 2
    assert res["expires_at"] == int(clock.t * 1000) + 300_000
    assert (await svc.stock(ROOM))["p1"] == {
        "initial": 10,
        "available": 8,
        "reserved": 2,
        "sold": 0,
    }
    assert (await svc.sales(ROOM))["p1"]["units_left"] == 3

    order = await pay(svc, res["id"], "v1", "pay-key-1")
    assert order["reservation_id"] == res["id"] and order["amount"] == 19800
    assert order["charge_id"] in provider.charges
    assert (await svc.stock(ROOM))["p1"] == {
        "initial": 10,
        "available": 8,
        "reserved": 0,
        "sold": 2,
    }

    records, last = await svc.orders_after(ROOM, "0")
    assert [r["id"] for r in records] == [order["id"]]
    assert records[0]["host"] == "Mia" and records[0]["commission_rate"] == "0.1"
    assert records[0]["buyer_vid"] == "v1" and last == records[0]["stream_id"]
    assert await svc.figures(ROOM) == {
        "orders": 1,
        "units_sold": 2,
        "revenue": {"CNY": 19800},
        "hosts": {"Mia": {"orders": 1, "revenue": {"CNY": 19800}, "commission": {"CNY": 1980}}},
        "replay": {"orders": 0, "units_sold": 0, "revenue": {}},
    }
    assert records[0]["channel"] == "live" and order["channel"] == "live"
    # paying again, with the same or another key, returns the same order and charges once
    assert await pay(svc, res["id"], "v1", "pay-key-1") == order
    assert await pay(svc, res["id"], "v1", "pay-key-2") == order
    assert len(provider.charges) == 1


async def test_sale_dict_matches_the_protocol_snapshot(svc: CheckoutService) -> None:
    s = (await svc.sales(ROOM))["p1"]
    assert s == {
        "product_id": "p1",
        "price": 9900,
        "currency": "CNY",
        "units": 5,
        "limit": 2,
        "opens_at": None,
        "ends_at": None,
        "state": "open",
        "units_left": 5,
        "hold_seconds": 300,
        "policy": "hold",
    }


async def test_decline_releases_the_hold(svc: CheckoutService, provider: SandboxProvider) -> None:
    res = await buy(svc, "v1", "buy-key-1", qty=2)
    assert await code_of(pay(svc, res["id"], "v1", "pay-key-1", DECLINE_CARD)) == "payment_declined"
    assert (await svc.stock(ROOM))["p1"]["reserved"] == 0
    assert (await svc.sales(ROOM))["p1"]["units_left"] == 5
    # the same key replays the outcome; another key finds the hold gone
    assert await code_of(pay(svc, res["id"], "v1", "pay-key-1", DECLINE_CARD)) == "payment_declined"
    assert await code_of(pay(svc, res["id"], "v1", "pay-key-2")) == "hold_expired"
    assert provider.charges == {}
    # the limit counts only live holds and orders: buying again is allowed
    assert (await buy(svc, "v1", "buy-key-2", qty=2))["qty"] == 2


async def test_timeout_releases_the_hold(svc: CheckoutService, provider: SandboxProvider) -> None:
    res = await buy(svc, "v1", "buy-key-1")
    assert await code_of(pay(svc, res["id"], "v1", "pay-key-1", TIMEOUT_CARD)) == "payment_timeout"
    assert (await svc.stock(ROOM))["p1"] == {
        "initial": 10,
        "available": 10,
        "reserved": 0,
        "sold": 0,
    }
    assert provider.charges == {}


async def test_expiry_releases_the_hold(svc: CheckoutService, clock: FakeClock) -> None:
    res = await buy(svc, "v1", "buy-key-1", qty=2)
    clock.advance(299)
    assert await svc.sweep(ROOM) == 0
    clock.advance(1)
    assert await svc.sweep(ROOM) == 1
    assert await svc.sweep(ROOM) == 0
    assert (await svc.stock(ROOM))["p1"]["available"] == 10
    assert (await svc.sales(ROOM))["p1"]["units_left"] == 5
    assert await code_of(pay(svc, res["id"], "v1", "pay-key-1")) == "hold_expired"


async def test_pay_after_expiry_without_sweep_is_refused_and_releases(
    svc: CheckoutService, provider: SandboxProvider, clock: FakeClock
) -> None:
    res = await buy(svc, "v1", "buy-key-1")
    clock.advance(301)
    assert await code_of(pay(svc, res["id"], "v1", "pay-key-1")) == "hold_expired"
    assert provider.attempts == 0
    assert (await svc.stock(ROOM))["p1"]["reserved"] == 0


async def test_payment_approved_after_expiry_is_refunded(
    redis_client: aioredis.Redis, clock: FakeClock
) -> None:
    provider = SandboxProvider(latency=0.3)
    svc = CheckoutService(redis_client, provider, clock=clock, charge_timeout=2.0)
    await svc.init_stock(ROOM, "p1", 3)
    await svc.open_sale(ROOM, "p1", price=500, currency="EUR", units=3, limit=3)
    res = await buy(svc, "v1", "buy-key-1", qty=3)
    paying = asyncio.create_task(pay(svc, res["id"], "v1", "pay-key-1"))
    await asyncio.sleep(0.1)  # the charge is on its way
    clock.advance(301)
    assert await svc.sweep(ROOM) == 1  # the hold expires under the payment
    assert await code_of(paying) == "hold_expired"
    [charge] = provider.charges.values()
    assert charge.charge_id in provider.refunds
    assert (await svc.stock(ROOM))["p1"] == {"initial": 3, "available": 3, "reserved": 0, "sold": 0}
    assert (await svc.orders_after(ROOM, "0"))[0] == []
    assert await redis_client.zcard(f"lc:{{{ROOM}}}:refunds") == 0
    assert await redis_client.hget(f"lc:{{{ROOM}}}:hold:{res['id']}", "state") == b"refunded"
    # a retry of the payment neither charges nor refunds again
    assert await code_of(pay(svc, res["id"], "v1", "pay-key-1")) == "hold_expired"
    assert len(provider.charges) == 1 and len(provider.refunds) == 1
    assert await svc.audit(ROOM) == []


class RefundFailsOnce(SandboxProvider):
    def __init__(self) -> None:
        super().__init__(latency=0.2)
        self.refund_calls = 0

    async def refund(self, charge_id: str, idempotency_key: str) -> RefundResult:
        self.refund_calls += 1
        if self.refund_calls == 1:
            raise ProviderError("provider down")
        return await super().refund(charge_id, idempotency_key)


async def test_a_failed_refund_is_retried_by_the_sweeper(
    redis_client: aioredis.Redis, clock: FakeClock
) -> None:
    provider = RefundFailsOnce()
    svc = CheckoutService(redis_client, provider, clock=clock, charge_timeout=2.0)
    await svc.init_stock(ROOM, "p1", 1)
    await svc.open_sale(ROOM, "p1", price=500, currency="EUR", units=1, limit=1)
    res = await buy(svc, "v1", "buy-key-1")
    paying = asyncio.create_task(pay(svc, res["id"], "v1", "pay-key-1"))
    await asyncio.sleep(0.05)
    clock.advance(301)
    assert await code_of(paying) == "hold_expired"
    assert provider.refunds == {}
    assert await redis_client.zcard(f"lc:{{{ROOM}}}:refunds") == 1
    await svc.sweep()
    assert len(provider.refunds) == 1
    assert await redis_client.zcard(f"lc:{{{ROOM}}}:refunds") == 0
    assert await svc.audit(ROOM) == []


async def test_limit_counts_holds_and_orders(svc: CheckoutService) -> None:
    res = await buy(svc, "v1", "buy-key-1")
    await pay(svc, res["id"], "v1", "pay-key-1")
    await buy(svc, "v1", "buy-key-2")
    before = await svc.snapshot(ROOM)
    assert await code_of(buy(svc, "v1", "buy-key-3")) == "limit_reached"
    assert await code_of(buy(svc, "v2", "buy-key-4", qty=3)) == "limit_reached"
    assert await svc.snapshot(ROOM) == before


async def test_sold_out_is_final_for_its_key(svc: CheckoutService) -> None:
    for i in range(5):
        await buy(svc, f"v{i}", f"buy-key-{i}")
    assert await code_of(buy(svc, "v9", "buy-key-9")) == "sold_out"
    # a unit comes back, but the key already has its answer; a new key gets the unit
    await svc.close_sale(ROOM, "p1")
    await svc.open_sale(ROOM, "p1", price=9900, currency="CNY", units=1, limit=2)
    assert await code_of(buy(svc, "v9", "buy-key-9")) == "sold_out"
    assert (await buy(svc, "v9", "buy-key-10"))["qty"] == 1


async def test_same_key_other_parameters_is_key_reused(svc: CheckoutService) -> None:
    first = await buy(svc, "v1", "buy-key-1")
    assert await buy(svc, "v1", "buy-key-1") == first
    before = await svc.snapshot(ROOM)
    assert await code_of(buy(svc, "v1", "buy-key-1", qty=2)) == "key_reused"
    assert await code_of(buy(svc, "v2", "buy-key-1")) == "key_reused"
    order = await pay(svc, first["id"], "v1", "pay-key-1")
    assert await code_of(pay(svc, first["id"], "v1", "pay-key-1", DECLINE_CARD)) == "key_reused"
    after = await svc.snapshot(ROOM)
    assert after["stock"]["p1"]["sold"] == before["stock"]["p1"]["sold"] + 1
    assert order["qty"] == 1


async def test_scheduled_and_ending_sales(svc: CheckoutService, clock: FakeClock) -> None:
    now_ms = int(clock.t * 1000)
    sale = await svc.open_sale(
        ROOM, "p1", price=100, currency="CNY", units=5, limit=5,
        opens_at=now_ms + 10_000, ends_at=now_ms + 60_000,
    )  # fmt: skip
    assert sale["state"] == "scheduled"
    with pytest.raises(CheckoutError) as info:
        await buy(svc, "v1", "buy-key-1")
    assert info.value.code == "sale_not_open" and info.value.retry_after == 10.0
    clock.advance(10)
    assert (await svc.sales(ROOM))["p1"]["state"] == "open"
    assert (await buy(svc, "v1", "buy-key-2"))["unit_price"] == 100
    clock.advance(50)
    assert (await svc.sales(ROOM))["p1"]["state"] == "closed"
    assert await code_of(buy(svc, "v1", "buy-key-3")) == "sale_not_open"


async def test_closed_sale_refuses_buys_but_honours_holds(svc: CheckoutService) -> None:
    res = await buy(svc, "v1", "buy-key-1")
    closed = await svc.close_sale(ROOM, "p1")
    assert closed["state"] == "closed"
    assert await svc.close_sale(ROOM, "p1") == closed
    assert await code_of(buy(svc, "v2", "buy-key-2")) == "sale_not_open"
    assert (await pay(svc, res["id"], "v1", "pay-key-1"))["qty"] == 1


async def test_open_sale_rules(svc: CheckoutService) -> None:
    same = await svc.open_sale(ROOM, "p1", price=9900, currency="CNY", units=5, limit=2)
    await buy(svc, "v1", "buy-key-1")
    # repeating the same open changes nothing (units_left keeps counting)
    again = await svc.open_sale(ROOM, "p1", price=9900, currency="CNY", units=5, limit=2)
    assert again == {**same, "units_left": 4}
    with pytest.raises(CheckoutError, match="units: only 9 available") as info:
        await svc.open_sale(ROOM, "p1", price=9900, currency="CNY", units=10, limit=2)
    assert info.value.code == "bad_args"
    assert await code_of(
        svc.open_sale(ROOM, "nope", price=1, currency="CNY", units=1, limit=1)
    ) == ("not_found")
    assert await code_of(svc.close_sale(ROOM, "nope")) == "not_found"
    new = await svc.open_sale(ROOM, "p1", price=8000, currency="CNY", units=9, limit=2)
    assert new["units_left"] == 9 and new["price"] == 8000


async def test_stock_init_and_add(svc: CheckoutService) -> None:
    assert await svc.init_stock(ROOM, "p1", 999) == {
        "initial": 10, "available": 10, "reserved": 0, "sold": 0,
    }  # fmt: skip
    added = await svc.add_stock(ROOM, "p1", 5, key="add-key-1")
    assert added["initial"] == 15 and added["available"] == 15
    assert await svc.add_stock(ROOM, "p1", 5, key="add-key-1") == added
    assert await code_of(svc.add_stock(ROOM, "p1", 6, key="add-key-1")) == "key_reused"
    assert (await svc.add_stock(ROOM, "p1", 1))["initial"] == 16
    assert await code_of(svc.add_stock(ROOM, "nope", 1)) == "not_found"
    assert await svc.init_stock(ROOM, "p0", 0) == {
        "initial": 0, "available": 0, "reserved": 0, "sold": 0,
    }  # fmt: skip
    assert await svc.audit(ROOM) == []


async def test_forbidden_and_not_found(svc: CheckoutService) -> None:
    res = await buy(svc, "v1", "buy-key-1")
    assert await code_of(pay(svc, res["id"], "v2", "pay-key-1")) == "forbidden"
    assert await code_of(pay(svc, "r_doesnotexist", "v1", "pay-key-2")) == "not_found"
    # refusals that name the caller's mistake are not remembered under the key
    assert (await pay(svc, res["id"], "v1", "pay-key-1"))["qty"] == 1


BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("buy", {"qty": 0}, "bad_args"),
    ("buy", {"qty": -1}, "bad_args"),
    ("buy", {"qty": "1"}, "bad_args"),
    ("buy", {"qty": 1.0}, "bad_args"),
    ("buy", {"qty": True}, "bad_args"),
    ("buy", {"qty": 2}, "limit_reached"),  # the limit is 2 and v1 holds 1
    ("buy", {"product_id": "unknown"}, "not_found"),
    ("buy", {"product_id": "p2"}, "sale_not_open"),
    ("buy", {"product_id": None}, "bad_args"),
    ("buy", {"product_id": "p{1}"}, "bad_args"),
    ("buy", {"buyer_vid": 42}, "bad_args"),
    ("buy", {"buyer_name": ""}, "bad_args"),
    ("buy", {"buyer_name": ["x"]}, "bad_args"),
    ("buy", {"key": "short"}, "bad_args"),
    ("buy", {"key": None}, "bad_args"),
    ("buy", {"room": ""}, "bad_args"),
    ("buy", {"room": {"a": 1}}, "bad_args"),
    ("pay", {"card": "1234"}, "bad_args"),
    ("pay", {"card": 4242424242424242}, "bad_args"),
    ("pay", {"reservation_id": None}, "bad_args"),
    ("pay", {"reservation_id": "r_unknown"}, "not_found"),
    ("pay", {"key": "bad key!"}, "bad_args"),
    ("pay", {"buyer_vid": "v2"}, "forbidden"),
    ("open_sale", {"price": -1}, "bad_args"),
    ("open_sale", {"price": "9900"}, "bad_args"),
    ("open_sale", {"currency": "cny"}, "bad_args"),
    ("open_sale", {"units": 0}, "bad_args"),
    ("open_sale", {"units": 11}, "bad_args"),
    ("open_sale", {"limit": 0}, "bad_args"),
    ("open_sale", {"opens_at": "soon"}, "bad_args"),
    ("open_sale", {"ends_at": 1}, "bad_args"),
    ("open_sale", {"product_id": "unknown"}, "not_found"),
    ("close_sale", {"product_id": "p2"}, "not_found"),
    ("close_sale", {"product_id": 7}, "bad_args"),
    ("init_stock", {"stock": -1}, "bad_args"),
    ("init_stock", {"stock": None}, "bad_args"),
    ("add_stock", {"units": 0}, "bad_args"),
    ("add_stock", {"key": "no"}, "bad_args"),
]


@pytest.mark.parametrize(("method", "changes", "code"), BAD_CALLS)
async def test_bad_input_changes_nothing(
    svc: CheckoutService,
    redis_client: aioredis.Redis,
    method: str,
    changes: dict[str, Any],
    code: str,
) -> None:
    await svc.init_stock(ROOM, "p2", 4)  # in stock, never on sale
    res = await buy(svc, "v1", "buy-key-0")
    base: dict[str, dict[str, Any]] = {
        "buy": {"room": ROOM, "product_id": "p1", "buyer_vid": "v1", "buyer_name": "A",
                "qty": 1, "key": "buy-key-1"},
        "pay": {"room": ROOM, "reservation_id": res["id"], "buyer_vid": "v1",
                "card": APPROVE_CARD, "key": "pay-key-1"},
        "open_sale": {"room": ROOM, "product_id": "p1", "price": 100, "currency": "CNY",
                      "units": 3, "limit": 1},
        "close_sale": {"room": ROOM, "product_id": "p1"},
        "init_stock": {"room": ROOM, "product_id": "p3", "stock": 1},
        "add_stock": {"room": ROOM, "product_id": "p1", "units": 1},
    }  # fmt: skip
    args = {**base[method], **changes}
    positional = [args.pop("room")]
    if method in ("open_sale", "close_sale", "init_stock", "add_stock", "buy"):
        positional.append(args.pop("product_id"))
    if method == "pay":
        positional.append(args.pop("reservation_id"))
    if method in ("init_stock", "add_stock"):
        positional.append(args.pop("stock" if method == "init_stock" else "units"))
    before = await svc.snapshot(ROOM)
    keys_before = sorted(await redis_client.keys("*"))
    assert await code_of(getattr(svc, method)(*positional, **args)) == code
    assert await svc.snapshot(ROOM) == before
    new_keys = set(await redis_client.keys("*")) - set(keys_before)
    # only a definite refusal of a buy is remembered, in the room's bounded refusals
    assert new_keys <= {f"lc:{{{ROOM}}}:refused".encode(), f"lc:{{{ROOM}}}:refused_at".encode()}


async def test_in_progress_while_the_first_payment_runs(
    redis_client: aioredis.Redis, clock: FakeClock
) -> None:
    provider = SandboxProvider(latency=0.4)
    svc = CheckoutService(
        redis_client, provider, clock=clock, charge_timeout=1.0, in_progress_wait=0.0
    )
    await svc.init_stock(ROOM, "p1", 1)
    await svc.open_sale(ROOM, "p1", price=500, currency="EUR", units=1, limit=1)
    res = await buy(svc, "v1", "buy-key-1")
    first = asyncio.create_task(pay(svc, res["id"], "v1", "pay-key-1"))
    await asyncio.sleep(0.1)
    with pytest.raises(CheckoutError) as info:
        await pay(svc, res["id"], "v1", "pay-key-1")
    assert info.value.code == "in_progress" and info.value.retry_after == pytest.approx(11.0)
    assert await code_of(pay(svc, res["id"], "v1", "pay-key-2")) == "in_progress"
    order = await first
    assert await pay(svc, res["id"], "v1", "pay-key-1") == order
    assert await pay(svc, res["id"], "v1", "pay-key-2") == order
    assert len(provider.charges) == 1


async def test_a_stale_payment_lease_is_taken_over_without_charging_twice(
    redis_client: aioredis.Redis, clock: FakeClock
) -> None:
    """A node charged and died before recording the order: a retry after the lease
    charges again with the same charge key, which the provider answers from memory."""
    provider = SandboxProvider()
    svc = CheckoutService(redis_client, provider, clock=clock, charge_timeout=1.0)
    await svc.init_stock(ROOM, "p1", 1)
    await svc.open_sale(ROOM, "p1", price=500, currency="EUR", units=1, limit=1)
    res = await buy(svc, "v1", "buy-key-1")
    await start_payment_and_die(svc, provider, res["id"], charge=True)
    clock.advance(12)  # the lease (charge_timeout + 10) runs out
    order = await pay(svc, res["id"], "v1", "pay-key-1")
    assert len(provider.charges) == 1 and order["charge_id"] in provider.charges


async def test_two_sweepers_release_each_hold_once(
    redis_server: RedisProcess, redis_client: aioredis.Redis, clock: FakeClock
) -> None:
    provider = SandboxProvider()
    other = aioredis.Redis.from_url(redis_server.url)
    try:
        a = CheckoutService(redis_client, provider, clock=clock)
        b = CheckoutService(other, provider, clock=clock, sweep_batch=7)
        await a.init_stock(ROOM, "p1", 60)
        await a.open_sale(ROOM, "p1", price=1, currency="CNY", units=60, limit=1)
        await asyncio.gather(*(buy(a, f"v{i}", f"buy-key-{i:03}") for i in range(60)))
        clock.advance(301)
        counts = await asyncio.gather(a.sweep(), b.sweep(), a.sweep(ROOM), b.sweep(ROOM))
        assert sum(counts) == 60
        assert (await a.stock(ROOM))["p1"]["available"] == 60
        assert await a.audit(ROOM) == []
    finally:
        await other.aclose()


async def test_orders_after_is_a_cursor(svc: CheckoutService) -> None:
    assert await svc.orders_after(ROOM) == ([], "0-0")
    r1 = await buy(svc, "v1", "buy-key-1")
    o1 = await pay(svc, r1["id"], "v1", "pay-key-1")
    _, cursor = await svc.orders_after(ROOM)
    r2 = await buy(svc, "v2", "buy-key-2")
    o2 = await pay(svc, r2["id"], "v2", "pay-key-2")
    records, cursor2 = await svc.orders_after(ROOM, cursor)
    assert [r["id"] for r in records] == [o2["id"]]
    assert (await svc.orders_after(ROOM, cursor2)) == ([], cursor2)
    assert [r["id"] for r in (await svc.orders_after(ROOM, "0", count=1))[0]] == [o1["id"]]
    assert await code_of(svc.orders_after(ROOM, "not-an-id")) == "bad_args"
    csv_text, records = await svc.export(ROOM)
    assert csv_text.splitlines()[0].startswith("id,created_at,room,product_id,qty")
    assert len(csv_text.splitlines()) == 3 and len(records) == 2


async def test_scripts_reload_after_the_script_cache_is_lost(
    svc: CheckoutService, redis_client: aioredis.Redis
) -> None:
    await redis_client.script_flush()
    assert (await buy(svc, "v1", "buy-key-1"))["qty"] == 1


async def test_redis_unreachable_is_unavailable(provider: SandboxProvider) -> None:
    client = aioredis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    try:
        svc = CheckoutService(client, provider)
        assert await code_of(buy(svc, "v1", "buy-key-1")) == "unavailable"
        assert await code_of(pay(svc, "r_x", "v1", "pay-key-1")) == "unavailable"
        assert await code_of(svc.sweep()) == "unavailable"
        assert await code_of(svc.figures(ROOM)) == "unavailable"
    finally:
        await client.aclose()


class BrokenProvider:
    async def charge(self, amount: int, currency: str, card: str, key: str) -> ChargeResult:
        raise ProviderError("gateway said no")

    async def save_card(self, card: str) -> SavedCard:
        raise ProviderError("gateway said no")

    async def refund(self, charge_id: str, idempotency_key: str) -> RefundResult:
        raise ProviderError("gateway said no")


async def test_provider_error_releases_as_declined(
    redis_client: aioredis.Redis, clock: FakeClock
) -> None:
    svc = CheckoutService(redis_client, BrokenProvider(), clock=clock)
    await svc.init_stock(ROOM, "p1", 1)
    await svc.open_sale(ROOM, "p1", price=1, currency="CNY", units=1, limit=1)
    res = await buy(svc, "v1", "buy-key-1")
    with pytest.raises(CheckoutError, match="gateway said no"):
        await pay(svc, res["id"], "v1", "pay-key-1")
    assert (await svc.stock(ROOM))["p1"]["available"] == 1


async def test_the_sweeper_loop_releases_expired_holds(
    svc: CheckoutService, clock: FakeClock
) -> None:
    await buy(svc, "v1", "buy-key-1", qty=2)
    clock.advance(301)
    async with sweeping(svc, interval=0.05):
        for _ in range(100):
            if (await svc.stock(ROOM))["p1"]["reserved"] == 0:
                break
            await asyncio.sleep(0.02)
    assert (await svc.stock(ROOM))["p1"]["available"] == 10


async def test_a_cancelled_caller_does_not_abandon_its_charge(
    redis_client: aioredis.Redis, clock: FakeClock
) -> None:
    provider = SandboxProvider(latency=0.2)
    svc = CheckoutService(redis_client, provider, clock=clock, charge_timeout=1.0)
    await svc.init_stock(ROOM, "p1", 1)
    await svc.open_sale(ROOM, "p1", price=500, currency="EUR", units=1, limit=1)
    res = await buy(svc, "v1", "buy-key-1")
    paying = asyncio.create_task(pay(svc, res["id"], "v1", "pay-key-1"))
    await asyncio.sleep(0.05)
    paying.cancel()  # the socket closed while the card was being charged
    with pytest.raises(asyncio.CancelledError):
        await paying
    for _ in range(50):
        if (await svc.orders_after(ROOM, "0"))[0]:
            break
        await asyncio.sleep(0.02)
    assert (await svc.stock(ROOM))["p1"]["sold"] == 1
    assert (await pay(svc, res["id"], "v1", "pay-key-1"))["charge_id"] in provider.charges


async def start_payment_and_die(
    svc: CheckoutService, provider: Any, rid: str, charge: bool
) -> None:
    """What a node that died mid-payment leaves behind: the lease, maybe a charge."""
    req = PayRequest.parse(ROOM, rid, "v1", APPROVE_CARD, "pay-key-1")
    step = await svc._payments.begin(req, req.fingerprint())
    if charge:
        await provider.charge(500, "EUR", APPROVE_CARD, step["charge"]["key"])


@pytest.mark.parametrize("charged", [True, False])
async def test_the_sweeper_settles_a_payment_whose_node_died(
    redis_client: aioredis.Redis, clock: FakeClock, charged: bool
) -> None:
    provider = SandboxProvider()
    svc = CheckoutService(redis_client, provider, clock=clock, charge_timeout=1.0)
    await svc.init_stock(ROOM, "p1", 1)
    await svc.open_sale(ROOM, "p1", price=500, currency="EUR", units=1, limit=1)
    res = await buy(svc, "v1", "buy-key-1")
    await start_payment_and_die(svc, provider, res["id"], charged)
    clock.advance(301)  # past the hold and past the payment lease
    assert await svc.sweep() == 1
    assert await redis_client.zcard(f"lc:{{{ROOM}}}:unsettled") == 0
    assert len(provider.refunds) == int(charged)
    assert (await svc.stock(ROOM))["p1"] == {"initial": 1, "available": 1, "reserved": 0, "sold": 0}
    assert await code_of(pay(svc, res["id"], "v1", "pay-key-1")) == "hold_expired"
    assert len(provider.charges) == int(charged) and len(provider.refunds) == int(charged)
    assert await svc.audit(ROOM) == []


@pytest.mark.parametrize("retried", [True, False])
async def test_a_charge_approved_while_redis_was_away_is_refunded_once_the_hold_is_over(
    tmp_path: Path, clock: FakeClock, retried: bool
) -> None:
    """The provider approves while Redis is down, so the order cannot be recorded
    (``unavailable``); Redis comes back after the hold ended. The buyer's retry with
    the same key gets ``hold_expired`` and the charge is refunded then (``retried``),
    or the next sweep refunds it: never money without an order or a refund."""
    server = RedisProcess(tmp_path)
    server.start()
    client = aioredis.Redis.from_url(server.url, retry=Retry(NoBackoff(), 0))
    provider = SandboxProvider(latency=0.2)
    svc = CheckoutService(
        client, provider, clock=clock, charge_timeout=1.0, confirm_retry_seconds=0.1
    )
    try:
        await svc.init_stock(ROOM, "p1", 1)
        await svc.open_sale(ROOM, "p1", price=500, currency="EUR", units=1, limit=1)
        res = await buy(svc, "v1", "buy-key-1")
        paying = asyncio.create_task(pay(svc, res["id"], "v1", "pay-key-1"))
        await asyncio.sleep(0.05)  # the charge is at the provider
        server.kill()
        assert await code_of(paying) == "unavailable"
        assert len(provider.charges) == 1 and not provider.refunds
        server.start()
        clock.advance(301)  # past the hold and the payment lease
        if retried:
            assert await code_of(pay(svc, res["id"], "v1", "pay-key-1")) == "hold_expired"
            assert len(provider.refunds) == 1
        await svc.sweep()
        assert set(provider.refunds) == set(provider.charges)  # refunded once, not twice
        assert await client.zcard(f"lc:{{{ROOM}}}:unsettled") == 0
        assert await client.zcard(f"lc:{{{ROOM}}}:refunds") == 0
        assert (await svc.stock(ROOM))["p1"] == {
            "initial": 1, "available": 1, "reserved": 0, "sold": 0,
        }  # fmt: skip
        assert await code_of(pay(svc, res["id"], "v1", "pay-key-1")) == "hold_expired"
        assert await svc.audit(ROOM) == []
    finally:
        await client.aclose()
        server.stop()


class NoLookup:
    def __init__(self) -> None:
        self.sandbox = SandboxProvider()

    async def charge(self, amount: int, currency: str, card: str, key: str) -> ChargeResult:
        return await self.sandbox.charge(amount, currency, card, key)

    async def save_card(self, card: str) -> SavedCard:
        return await self.sandbox.save_card(card)

    async def refund(self, charge_id: str, idempotency_key: str) -> RefundResult:
        return await self.sandbox.refund(charge_id, idempotency_key)


async def test_without_lookup_unsettled_holds_stay_listed_for_reconciliation(
    redis_client: aioredis.Redis, clock: FakeClock
) -> None:
    provider = NoLookup()
    svc = CheckoutService(redis_client, provider, clock=clock, charge_timeout=1.0)
    await svc.init_stock(ROOM, "p1", 1)
    await svc.open_sale(ROOM, "p1", price=500, currency="EUR", units=1, limit=1)
    res = await buy(svc, "v1", "buy-key-1")
    await start_payment_and_die(svc, provider.sandbox, res["id"], True)
    clock.advance(301)
    assert await svc.sweep() == 1
    assert await redis_client.zrange(f"lc:{{{ROOM}}}:unsettled", 0, -1) == [res["id"].encode()]
    assert await svc.audit(ROOM) == []


async def test_a_replay_buy_is_at_list_price_without_a_sale_and_counted_apart(
    svc: CheckoutService, redis_client: aioredis.Redis
) -> None:
    await svc.init_stock(ROOM, "p2", 3)
    product = '{"id": "p2", "name": "Kettle", "price": 4500, "currency": "CNY"}'
    await redis_client.hset(f"lc:{{{ROOM}}}:catalog", "p2", product)
    # Live, p2 has no sale: refused. From the replay: held at the list price.
    assert await code_of(buy(svc, "v1", "live-key-1", pid="p2")) == "sale_not_open"
    res = await svc.buy(
        ROOM, "p2", buyer_vid="v1", buyer_name="Ann", qty=2, key="replay-key-1", channel="replay"
    )
    assert (res["unit_price"], res["currency"], res["channel"]) == (4500, "CNY", "replay")
    again = await svc.buy(
        ROOM, "p2", buyer_vid="v1", buyer_name="Ann", qty=2, key="replay-key-1", channel="replay"
    )
    assert again == res  # idempotent
    order = await pay(svc, res["id"], "v1", "replay-pay-1")
    assert order["channel"] == "replay" and order["amount"] == 9000
    # The replay buy goes through the same stock: one unit left, then sold out.
    assert (await svc.stock(ROOM))["p2"] == {"initial": 3, "available": 1, "reserved": 0, "sold": 2}
    code = await code_of(
        svc.buy(
            ROOM, "p2", buyer_vid="v2", buyer_name="Bo", qty=2, key="replay-k2", channel="replay"
        )
    )
    assert code == "sold_out"
    assert (
        await code_of(
            svc.buy(
                ROOM, "p2", buyer_vid="v2", buyer_name="B", qty=1, key="replay-k3", channel="tv"
            )
        )
        == "bad_args"
    )
    figures = await svc.figures(ROOM)
    assert figures["orders"] == 1 and figures["replay"] == {
        "orders": 1,
        "units_sold": 2,
        "revenue": {"CNY": 9000},
    }
    _, records = await svc.export(ROOM)
    assert [r["channel"] for r in records] == ["replay"]
    # A live sale is not touched by a replay hold.
    assert (await svc.sales(ROOM))["p1"]["units_left"] == 5
    # A sale the host opens for the replay: replay buys take its terms.
    await svc.open_sale(ROOM, "p2", price=3000, currency="CNY", units=1, limit=1)
    held = await svc.buy(
        ROOM, "p2", buyer_vid="v3", buyer_name="Cy", qty=1, key="replay-k4", channel="replay"
    )
    assert (held["unit_price"], held["channel"]) == (3000, "replay")
    assert (await svc.sales(ROOM))["p2"]["units_left"] == 0
