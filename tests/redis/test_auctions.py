"""Auctions and giveaways against a real Redis (one server and a cluster)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from livecart.checkout.auctions import AuctionTerms
from livecart.checkout.errors import CheckoutError
from livecart.checkout.giveaway_rules import draw
from livecart.checkout.sandbox import APPROVE_CARD, DECLINE_CARD, SandboxProvider
from livecart.checkout.service import CheckoutService
from livecart.redis_client import AnyRedis

ROOM = "show1"


@pytest.fixture
async def svc(any_redis: AnyRedis) -> CheckoutService:
    service = CheckoutService(any_redis, SandboxProvider())
    await service.init_stock(ROOM, "p1", 3)
    await any_redis.hset(f"lc:{{{ROOM}}}:meta", mapping={"host": "Mia", "commission_rate": "0.1"})
    return service


def terms(ms: int = 600, counter: int = 300, **kw: object) -> AuctionTerms:
    base: dict[str, object] = {
        "product_id": "p1",
        "currency": "USD",
        "start_price": 500,
        "duration_ms": ms,
        "counter_ms": counter,
    }
    base.update(kw)
    return AuctionTerms(**base)  # type: ignore[arg-type]


async def books_ok(svc: CheckoutService) -> dict[str, int]:
    assert await svc.audit(ROOM) == []
    stock = (await svc.stock(ROOM))["p1"]
    assert stock["initial"] == stock["available"] + stock["reserved"] + stock["sold"]
    return stock


async def close_when_due(svc: CheckoutService, aid: str) -> bool:
    closed_here = False
    for _ in range(100):
        step = await svc.auctions.close(ROOM, aid)
        closed_here |= step.changed
        if step.due_in is None:
            return closed_here
        await asyncio.sleep(step.due_in / 1000 + 0.01)
    raise AssertionError("never closed")


async def test_a_won_auction_becomes_an_order_at_the_proxy_price(svc: CheckoutService) -> None:
    a = await svc.auctions.start(ROOM, terms(counter=0), "start-key-1")
    assert (await books_ok(svc))["reserved"] == 1
    r1 = await svc.auctions.bid(
        ROOM, a["id"], vid="v1aaaaaa", name="Alice", max_bid=5_000, key="bid-key-01",
        card=APPROVE_CARD,
    )  # fmt: skip
    assert r1["leading"] and r1["auction"]["price"] == 500
    r2 = await svc.auctions.bid(
        ROOM, a["id"], vid="v2bbbbbb", name="Bob", max_bid=1_200, key="bid-key-02"
    )
    assert not r2["leading"] and r2["auction"]["price"] == 1_300
    again = await svc.auctions.bid(
        ROOM, a["id"], vid="v2bbbbbb", name="Bob", max_bid=1_200, key="bid-key-02"
    )
    assert again == r2  # idempotent per key
    with pytest.raises(CheckoutError) as low:
        await svc.auctions.bid(ROOM, a["id"], vid="v3", name="C", max_bid=900, key="bid-key-03")
    assert low.value.code == "bid_too_low"
    assert await close_when_due(svc, a["id"])
    assert not (await svc.auctions.close(ROOM, a["id"])).changed  # a second close: no-op
    with pytest.raises(CheckoutError) as late:
        await svc.auctions.bid(ROOM, a["id"], vid="v3", name="C", max_bid=9_000, key="bid-key-04")
    assert late.value.code == "auction_closed"
    step = await svc.auctions.settle(ROOM, a["id"])
    assert step.changed and step.view is not None and step.view["state"] == "sold"
    assert not (await svc.auctions.settle(ROOM, a["id"])).changed
    _, orders = await svc.export(ROOM)
    assert [(o["buyer_vid"], o["amount"]) for o in orders] == [("v1aaaaaa", 1_300)]
    figures = await svc.figures(ROOM)
    assert figures["hosts"]["Mia"]["commission"] == {"USD": 130}
    stock = await books_ok(svc)
    assert (stock["sold"], stock["reserved"], stock["available"]) == (1, 0, 2)


async def test_every_change_of_an_auction_raises_its_version(svc: CheckoutService) -> None:
    """The order a room applies auction events in (docs/protocol.md): start, each
    accepted bid, the close and the settle each raise ``version`` by one; a refused bid,
    a replayed key and a second close do not."""
    a = await svc.auctions.start(ROOM, terms(counter=0), "start-key-v")
    assert a["version"] == 1
    r1 = await svc.auctions.bid(
        ROOM, a["id"], vid="v1aaaaaa", name="Alice", max_bid=900, key="bid-key-v1",
        card=APPROVE_CARD,
    )  # fmt: skip
    r2 = await svc.auctions.bid(ROOM, a["id"], vid="v2", name="Bob", max_bid=700, key="bid-key-v2")
    assert (r1["auction"]["version"], r2["auction"]["version"]) == (2, 3)
    with pytest.raises(CheckoutError):
        await svc.auctions.bid(ROOM, a["id"], vid="v3", name="C", max_bid=500, key="bid-key-v3")
    replay = await svc.auctions.bid(
        ROOM, a["id"], vid="v2", name="Bob", max_bid=700, key="bid-key-v2"
    )
    assert replay["auction"]["version"] == 3
    assert await close_when_due(svc, a["id"])
    closed = await svc.auctions.close(ROOM, a["id"])
    assert not closed.changed and closed.view is not None and closed.view["version"] == 4
    settled = await svc.auctions.settle(ROOM, a["id"])
    assert settled.changed and settled.view is not None and settled.view["version"] == 5
    assert settled.view["state"] == "sold"


async def redis_text(redis: AnyRedis) -> str:
    """Every key and every value in Redis, as one string."""
    out: list[str] = []
    async for raw in redis.scan_iter(count=500):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        kind = await redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        value: object
        if kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "set":
            value = await redis.smembers(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:
            value = await redis.get(key)
        out.append(f"{key} {value!r}")
    return "\n".join(out)


async def test_no_card_number_reaches_redis_during_an_auction(
    any_redis: AnyRedis, svc: CheckoutService
) -> None:
    a = await svc.auctions.start(ROOM, terms(ms=800, counter=0), "start-key-pan")
    await svc.auctions.bid(
        ROOM, a["id"], vid="v1aaaaaa", name="Al", max_bid=600, key="bid-key-p1", card=DECLINE_CARD
    )
    await svc.auctions.bid(
        ROOM, a["id"], vid="v2bbbbbb", name="Bo", max_bid=900, key="bid-key-p2", card=APPROVE_CARD
    )
    during = await redis_text(any_redis)
    token = (await any_redis.hget(f"lc:{{{ROOM}}}:auction", "leader_token")) or b""
    assert token.decode().startswith("pm_sandbox_approve_4242_")  # only the token is kept
    await close_when_due(svc, a["id"])
    step = await svc.auctions.settle(ROOM, a["id"])
    assert step.view is not None and step.view["state"] == "sold"  # the token was charged
    after = await redis_text(any_redis)
    for text in (during, after):
        for pan in (APPROVE_CARD, DECLINE_CARD):
            assert pan not in text and pan[:12] not in text and pan[-12:] not in text
    assert "leader_token" in during and "leader_token" not in after


async def test_declined_winner_loses_the_item_and_it_goes_back(svc: CheckoutService) -> None:
    a = await svc.auctions.start(ROOM, terms(counter=0), "start-key-2")
    await svc.auctions.bid(
        ROOM, a["id"], vid="v1aaaaaa", name="Al", max_bid=600, key="bid-key-11", card=DECLINE_CARD
    )
    await close_when_due(svc, a["id"])
    step = await svc.auctions.settle(ROOM, a["id"])
    assert step.view is not None and step.view["state"] == "unpaid"
    stock = await books_ok(svc)
    assert (stock["available"], stock["sold"]) == (3, 0)


async def test_cancel_only_before_the_first_bid_and_one_auction_at_a_time(
    svc: CheckoutService,
) -> None:
    a = await svc.auctions.start(ROOM, terms(ms=5_000), "start-key-3")
    with pytest.raises(CheckoutError) as running:
        await svc.auctions.start(ROOM, terms(ms=5_000), "start-key-4")
    assert running.value.code == "auction_running"
    assert (await svc.auctions.cancel(ROOM, a["id"]))["state"] == "cancelled"
    assert (await books_ok(svc))["available"] == 3
    b = await svc.auctions.start(ROOM, terms(ms=5_000), "start-key-5")
    await svc.auctions.bid(ROOM, b["id"], vid="v1aaaaaa", name="A", max_bid=500, key="bid-key-21")
    with pytest.raises(CheckoutError) as has:
        await svc.auctions.cancel(ROOM, b["id"])
    assert has.value.code == "has_bids"


async def test_a_late_bid_resets_the_end_by_redis_time(svc: CheckoutService) -> None:
    a = await svc.auctions.start(ROOM, terms(ms=400, counter=300), "start-key-6")
    await asyncio.sleep(0.2)
    r = await svc.auctions.bid(ROOM, a["id"], vid="v1aaaaaa", name="A", max_bid=500, key="bid-k-31")
    view = r["auction"]
    assert r["reset"] and view["resets"] == 1
    assert view["ends_at"] - view["server_now"] == 300


async def test_giveaway_draw_recomputes_from_the_revealed_seed(svc: CheckoutService) -> None:
    g = await svc.auctions.start_giveaway(
        ROOM, {"product_id": "p1", "rule": "chatted"}, "USD", duration_ms=300
    )
    assert g["seed"] is None and len(g["commitment"]) == 64
    people = [(f"v{i:07d}x", f"Viewer {i}") for i in range(9)]
    assert await svc.auctions.enter(ROOM, g["id"], people) == 9
    assert (await books_ok(svc))["reserved"] == 1
    step = None
    for _ in range(50):
        step = await svc.auctions.draw(ROOM, g["id"])
        if step.due_in is None:
            break
        await asyncio.sleep(step.due_in / 1000 + 0.01)
    assert step is not None and step.view is not None
    result = step.view
    assert result["state"] == "drawn"
    assert hashlib.sha256(result["seed"].encode()).hexdigest() == g["commitment"]
    assert sorted(result["eligible"]) == sorted(v for v, _ in people)
    assert result["winner"]["vid"] == draw(result["seed"], result["eligible"])
    # too late to enter; the draw is done once
    assert await svc.auctions.enter(ROOM, g["id"], [("voutsider", "Late")]) == 0
    assert not (await svc.auctions.draw(ROOM, g["id"])).changed
    _, orders = await svc.export(ROOM)
    assert [(o["buyer_vid"], o["amount"]) for o in orders] == [(result["winner"]["vid"], 0)]
    assert (await books_ok(svc))["sold"] == 1
