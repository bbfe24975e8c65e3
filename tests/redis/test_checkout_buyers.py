"""Who may buy and what a buyer can make Redis keep, against a real redis-server.

The per-address cap on unpaid purchases, the per-sale hold time, the ``first_paid``
policy, refusals kept briefly and boundedly, holds that ended unpaid dropped early, and
a full Redis (maxmemory, noeviction) answering ``unavailable`` with the books intact.
Every test ends with an audit of the room's books. The clock is fake.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import OutOfMemoryError

from livecart.checkout import bounds
from livecart.checkout.errors import CheckoutError
from livecart.checkout.sandbox import APPROVE_CARD, DECLINE_CARD, SandboxProvider
from livecart.checkout.service import CheckoutService
from livecart.limits import MAX_HOLD_SECONDS, MIN_HOLD_SECONDS
from livecart.redis_client import AnyRedis
from livecart.redis_process import RedisProcess
from tests.clocks import FakeClock

ROOM = "shop"
PREFIX = f"lc:{{{ROOM}}}:"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider() -> SandboxProvider:
    return SandboxProvider()


@pytest.fixture
async def svc(
    any_redis: AnyRedis, provider: SandboxProvider, clock: FakeClock
) -> AsyncIterator[CheckoutService]:
    service = CheckoutService(any_redis, provider, clock=clock, holds_per_address=2)
    await service.init_stock(ROOM, "p1", 6)
    yield service
    assert await service.audit(ROOM) == []


def key() -> str:
    return "k" + secrets.token_hex(8)


async def buy(
    svc: CheckoutService, vid: str, k: str | None = None, address: str = "", qty: int = 1
) -> Any:
    return await svc.buy(
        ROOM, "p1", buyer_vid=vid, buyer_name="Ann", qty=qty, key=k or key(), address=address
    )


async def code_of(call: Any) -> str:
    with pytest.raises(CheckoutError) as info:
        await call
    return info.value.code


async def stock(svc: CheckoutService) -> dict[str, int]:
    return (await svc.stock(ROOM))["p1"]


async def test_one_address_holds_at_most_its_cap(svc: CheckoutService) -> None:
    await svc.open_sale(ROOM, "p1", price=100, currency="CNY", units=6, limit=1)
    first = [await buy(svc, f"v{i}xxxxx", address="203.0.113.7") for i in range(2)]
    before = await stock(svc)
    third = key()
    assert await code_of(buy(svc, "v3xxxxx", third, "203.0.113.7")) == "too_many_holds"
    assert await code_of(buy(svc, "v3xxxxx", third, "203.0.113.7")) == "too_many_holds"
    assert await stock(svc) == before == {"initial": 6, "available": 4, "reserved": 2, "sold": 0}
    # another address, and a signed-in buyer (no address), are not capped by it
    await buy(svc, "v4xxxxx", address="198.51.100.1")
    await buy(svc, "u:alice")
    # paying one frees a place under the cap
    await svc.pay(ROOM, first[0]["id"], buyer_vid="v0xxxxx", card=APPROVE_CARD, key=key())
    await buy(svc, "v5xxxxx", address="203.0.113.7")
    # a declined payment ends the hold and frees its place too
    paid = await code_of(
        svc.pay(ROOM, first[1]["id"], buyer_vid="v1xxxxx", card=DECLINE_CARD, key=key())
    )
    assert paid == "payment_declined"
    await buy(svc, "v6xxxxx", address="203.0.113.7")


async def test_the_sale_sets_its_hold_time(svc: CheckoutService, clock: FakeClock) -> None:
    for bad in (MIN_HOLD_SECONDS - 1, MAX_HOLD_SECONDS + 1, "60", 1.5, True):
        assert (
            await code_of(
                svc.open_sale(
                    ROOM, "p1", price=1, currency="CNY", units=1, limit=1, hold_seconds=bad
                )
            )
            == "bad_args"
        )
    assert await svc.sales(ROOM) == {}
    sale = await svc.open_sale(
        ROOM, "p1", price=100, currency="CNY", units=3, limit=1, hold_seconds=20
    )
    assert sale["hold_seconds"] == 20 and sale["policy"] == "hold"
    res = await buy(svc, "v1xxxxx")
    assert res["expires_at"] - res["created_at"] == 20_000
    clock.advance(19.9)
    assert await svc.sweep(ROOM) == 0
    clock.advance(0.2)
    assert await svc.sweep(ROOM) == 1
    assert await stock(svc) == {"initial": 6, "available": 6, "reserved": 0, "sold": 0}
    # the same terms again are the same sale; another hold time is a new one
    again = await svc.open_sale(
        ROOM, "p1", price=100, currency="CNY", units=3, limit=1, hold_seconds=20
    )
    assert again["units_left"] == 3
    other = await svc.open_sale(ROOM, "p1", price=100, currency="CNY", units=3, limit=1)
    assert other["hold_seconds"] == 300


async def test_first_paid_first_served(svc: CheckoutService, provider: SandboxProvider) -> None:
    sale = await svc.open_sale(
        ROOM, "p1", price=100, currency="CNY", units=2, limit=1, policy="first_paid"
    )
    assert sale["policy"] == "first_paid"
    buyers = [f"v{i}xxxxx" for i in range(4)]
    holds = [await buy(svc, vid) for vid in buyers]
    assert {h["state"] for h in holds} == {"pending"}
    # nothing is taken by buying
    assert await stock(svc) == {"initial": 6, "available": 6, "reserved": 0, "sold": 0}
    assert (await svc.sales(ROOM))["p1"]["units_left"] == 2
    assert await code_of(buy(svc, buyers[0])) == "limit_reached"  # pending counts
    results = await asyncio.gather(
        *(
            svc.pay(ROOM, h["id"], buyer_vid=vid, card=APPROVE_CARD, key=key())
            for h, vid in zip(holds, buyers, strict=True)
        ),
        return_exceptions=True,
    )
    orders = [r for r in results if isinstance(r, dict)]
    refused = [r.code for r in results if isinstance(r, CheckoutError)]
    assert len(orders) == 2 and refused == ["sold_out", "sold_out"]
    assert len(provider.charges) == 2  # the late payers were never charged
    assert await stock(svc) == {"initial": 6, "available": 4, "reserved": 0, "sold": 2}
    assert (await svc.sales(ROOM))["p1"]["units_left"] == 0
    # a late payer's retry replays sold_out; its purchase no longer counts to its limit
    late = [h for h, r in zip(holds, results, strict=True) if isinstance(r, CheckoutError)]
    assert await code_of(buy(svc, buyers[holds.index(late[0])])) == "sold_out"


async def test_first_paid_decline_gives_the_units_back(svc: CheckoutService) -> None:
    await svc.open_sale(
        ROOM, "p1", price=100, currency="CNY", units=1, limit=1, policy="first_paid"
    )
    a, b = await buy(svc, "vaxxxxx"), await buy(svc, "vbxxxxx")
    declined = svc.pay(ROOM, a["id"], buyer_vid="vaxxxxx", card=DECLINE_CARD, key=key())
    assert await code_of(declined) == "payment_declined"
    assert await stock(svc) == {"initial": 6, "available": 6, "reserved": 0, "sold": 0}
    order = await svc.pay(ROOM, b["id"], buyer_vid="vbxxxxx", card=APPROVE_CARD, key=key())
    assert order["qty"] == 1


async def test_first_paid_purchase_expires_without_moving_stock(
    svc: CheckoutService, clock: FakeClock
) -> None:
    await svc.open_sale(
        ROOM, "p1", price=100, currency="CNY", units=2, limit=1, policy="first_paid",
        hold_seconds=30,
    )  # fmt: skip
    res = await buy(svc, "vaxxxxx", address="203.0.113.9")
    clock.advance(31)
    assert await svc.sweep(ROOM) == 1
    assert await stock(svc) == {"initial": 6, "available": 6, "reserved": 0, "sold": 0}
    late = svc.pay(ROOM, res["id"], buyer_vid="vaxxxxx", card=APPROVE_CARD, key=key())
    assert await code_of(late) == "hold_expired"


async def test_a_refusal_is_replayed_for_its_window_then_decided_afresh(
    svc: CheckoutService, any_redis: AnyRedis, clock: FakeClock
) -> None:
    await svc.open_sale(ROOM, "p1", price=100, currency="CNY", units=1, limit=1, hold_seconds=60)
    await buy(svc, "vaxxxxx")
    k = key()
    assert await code_of(buy(svc, "vbxxxxx", k)) == "sold_out"
    assert await code_of(buy(svc, "vcxxxxx", k)) == "key_reused"
    assert not await any_redis.exists(PREFIX + "idem:buy:" + k)  # never a 24 h key
    # the unit comes back; within the window the key still answers sold_out
    clock.advance(61)
    assert await svc.sweep(ROOM) == 1
    assert await code_of(buy(svc, "vbxxxxx", k)) == "sold_out"
    # once the window is over the key is decided afresh (the refusal moved nothing)
    clock.advance(bounds.REFUSAL_KEEP_MS / 1000 - 61 + 1)
    assert (await buy(svc, "vbxxxxx", k))["state"] == "reserved"
    assert (await buy(svc, "vbxxxxx", k))["state"] == "reserved"  # and now kept 24 h


async def test_refusals_are_capped_per_room(svc: CheckoutService, any_redis: AnyRedis) -> None:
    await svc.open_sale(ROOM, "p1", price=100, currency="CNY", units=1, limit=1)
    await buy(svc, "vaxxxxx")
    n = bounds.REFUSALS_PER_ROOM + 300
    replies = await asyncio.gather(
        *(buy(svc, f"v{i}xxxxx") for i in range(n)), return_exceptions=True
    )
    assert {r.code for r in replies if isinstance(r, CheckoutError)} == {"sold_out"}
    assert await any_redis.hlen(PREFIX + "refused") == bounds.REFUSALS_PER_ROOM
    assert await any_redis.zcard(PREFIX + "refused_at") == bounds.REFUSALS_PER_ROOM
    assert 0 < await any_redis.pttl(PREFIX + "refused") <= bounds.REFUSAL_KEEP_MS


async def test_a_hold_that_ends_unpaid_is_dropped_early(
    svc: CheckoutService, any_redis: AnyRedis, clock: FakeClock
) -> None:
    await svc.open_sale(ROOM, "p1", price=100, currency="CNY", units=2, limit=1)
    k1, k2 = key(), key()
    unpaid = await buy(svc, "vaxxxxx", k1)
    paid_attempt = await buy(svc, "vbxxxxx", k2)
    declined = svc.pay(ROOM, paid_attempt["id"], buyer_vid="vbxxxxx", card=DECLINE_CARD, key=key())
    assert await code_of(declined) == "payment_declined"
    clock.advance(301)
    assert await svc.sweep(ROOM) == 1
    keep_ms = bounds.UNPAID_KEEP_MS
    for name in (f"hold:{unpaid['id']}", f"idem:buy:{k1}"):
        assert 0 < await any_redis.pttl(PREFIX + name) <= keep_ms
    # one with a payment attempt is kept for the full day
    assert await any_redis.pttl(PREFIX + f"hold:{paid_attempt['id']}") > keep_ms
    # within the hour a retry of the buy key replays the (expired) reservation
    assert (await buy(svc, "vaxxxxx", k1))["id"] == unpaid["id"]


async def test_a_full_redis_answers_unavailable_and_keeps_the_books(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "redis", maxmemory="4mb")
    server.start()
    client = aioredis.Redis.from_url(server.url)
    try:
        policy = await client.config_get("maxmemory-policy")
        assert policy["maxmemory-policy"] == "noeviction"
        svc = CheckoutService(client, SandboxProvider(), holds_per_address=0)
        await svc.init_stock(ROOM, "p1", 10)
        await svc.open_sale(ROOM, "p1", price=100, currency="CNY", units=10, limit=10)
        held = await buy(svc, "vaxxxxx")
        filler = 0
        for size in (65536, 512, 16):  # fill it up as a flood would, to the last bytes
            with pytest.raises(OutOfMemoryError):
                while True:
                    await client.set(f"filler:{filler}", b"x" * size)
                    filler += 1
        with pytest.raises(OutOfMemoryError):
            await client.set("one-more", "x")
        before = await svc.stock(ROOM)
        k = key()
        with pytest.raises(CheckoutError) as info:
            await buy(svc, "vbxxxxx", k)
        assert info.value.code == "unavailable" and "full" in info.value.message
        assert await svc.stock(ROOM) == before  # nothing half done
        assert await svc.audit(ROOM) == []
        # stock and holds were never evicted; once memory is freed the same key works
        assert await client.exists(PREFIX + f"hold:{held['id']}")
        await client.delete(*(f"filler:{i}" for i in range(filler)))
        assert (await buy(svc, "vbxxxxx", k))["state"] == "reserved"
        assert await svc.audit(ROOM) == []
    finally:
        await client.aclose()
        server.stop()
