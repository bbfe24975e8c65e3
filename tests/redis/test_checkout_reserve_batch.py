"""Reserves sent in batches (``ReserveBatcher`` and ``reserve_many.lua``) against a real
redis-server: a batch answers each request exactly as single reserves run one after
another would, and coalescing never loses, doubles or reorders a request."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError

from bench import reserve
from livecart.checkout.errors import CheckoutError
from livecart.checkout.reserve_batch import ReserveBatcher
from livecart.checkout.sandbox import SandboxProvider
from livecart.checkout.scripts import Scripts
from livecart.checkout.service import CheckoutService
from livecart.checkout.validation import BuyRequest
from livecart.redis_process import RedisProcess, free_port

NOW_MS = 1_763_760_000_000
TTL_MS = 24 * 3600 * 1000
HOLD_MS = 300_000


def now_ms() -> int:
    return NOW_MS


async def shop(redis: aioredis.Redis, room: str, units: int = 5, limit: int = 2) -> None:
    svc = CheckoutService(redis, SandboxProvider(), clock=lambda: NOW_MS / 1000)
    await svc.init_stock(room, "p1", 10)
    await svc.open_sale(room, "p1", price=990, currency="CNY", units=units, limit=limit)


def args(room: str, vid: str, key: str, qty: object = 1, pid: str = "p1") -> tuple[Any, ...]:
    """reserve.lua's arguments for one buy, as ``CheckoutService.buy`` builds them."""
    req = BuyRequest.parse(room, pid, vid, f"name-{vid}", qty, key)
    return req.reserve_args(f"r_{secrets.token_hex(10)}", HOLD_MS, 0)


def outcome(reply: dict[str, Any]) -> Any:
    """A reply without the reservation's random id, to compare two rooms' replies."""
    if "ok" in reply:
        return {k: v for k, v in reply["ok"]["reservation"].items() if k != "id"}
    return reply["error"]


async def books(redis: aioredis.Redis, room: str) -> dict[str, int]:
    svc = CheckoutService(redis, SandboxProvider(), clock=lambda: NOW_MS / 1000)
    figures: dict[str, int] = (await svc.stock(room))["p1"]
    return figures


# Requests that take every branch of reserve.lua, some of them interacting: buyer v1 goes
# over the limit of 2 on its third unit, k-dup is sent twice (the second gets the first's
# reply), k-reuse comes back with another quantity, then the 5 units run out.
def mixed(room: str) -> list[tuple[Any, ...]]:
    return [
        args(room, "v1", "k-v1-first"),
        args(room, "v1", "k-v1-second"),
        args(room, "v1", "k-v1-third"),
        args(room, "v2", "k-dup-0001"),
        args(room, "v2", "k-dup-0001"),
        args(room, "v3", "k-reuse-01", qty=1),
        args(room, "v3", "k-reuse-01", qty=2),
        args(room, "v4", "k-unknown1", pid="nope"),
        args(room, "v5", "k-v5-00001", qty=2),
        args(room, "v6", "k-v6-00001"),
    ]


async def test_a_batch_answers_as_single_reserves_in_order(redis_client: aioredis.Redis) -> None:
    scripts = Scripts(redis_client)
    await shop(redis_client, "one-by-one")
    await shop(redis_client, "batched")
    single = ReserveBatcher(scripts, now_ms, TTL_MS)
    expected = [outcome(await single.reserve("one-by-one", a)) for a in mixed("one-by-one")]
    assert single.calls == len(expected)  # alone, each request went out at once

    batcher = ReserveBatcher(scripts, now_ms, TTL_MS, max_inflight=1)
    replies = await asyncio.gather(*(batcher.reserve("batched", a) for a in mixed("batched")))
    assert [outcome(r) for r in replies] == expected
    assert batcher.calls == 1 and batcher.requests == len(expected)  # all arrived at once
    assert replies[3] == replies[4]  # the duplicate key got the first reply, same id
    codes = [e.get("code") for e in expected]
    assert codes == [None, None, "limit_reached", None, None, None, "key_reused",
                     "not_found", "sold_out", None]  # fmt: skip
    assert await books(redis_client, "batched") == await books(redis_client, "one-by-one")
    assert await books(redis_client, "batched") == {
        "initial": 10, "available": 5, "reserved": 5, "sold": 0}  # fmt: skip


async def test_units_go_in_arrival_order_and_nothing_is_doubled(
    redis_client: aioredis.Redis,
) -> None:
    await shop(redis_client, "rush", units=5, limit=1)
    batcher = ReserveBatcher(Scripts(redis_client), now_ms, TTL_MS, max_batch=40, max_inflight=1)
    requests = [args("rush", f"v{i}", f"rush-key-{i:04d}") for i in range(300)]
    replies = await asyncio.gather(*(batcher.reserve("rush", a) for a in requests))
    won = [i for i, r in enumerate(replies) if "ok" in r]
    assert won == [0, 1, 2, 3, 4]
    assert {r["error"]["code"] for r in replies if "error" in r} == {"sold_out"}
    assert batcher.calls == 300 // 40 + 1 and batcher.requests == 300  # full batches
    assert await books(redis_client, "rush") == {
        "initial": 10, "available": 5, "reserved": 5, "sold": 0}  # fmt: skip
    again = await asyncio.gather(*(batcher.reserve("rush", a) for a in requests))
    assert again == replies  # every key answers its first outcome


async def test_rooms_are_batched_apart(redis_client: aioredis.Redis) -> None:
    await shop(redis_client, "room-a", units=1, limit=1)
    await shop(redis_client, "room-b", units=1, limit=1)
    batcher = ReserveBatcher(Scripts(redis_client), now_ms, TTL_MS, max_inflight=1)
    replies = await asyncio.gather(
        *(
            batcher.reserve(room, args(room, f"v{i}", f"key-{room}-{i}"))
            for i in range(3)
            for room in ("room-a", "room-b")
        )
    )
    assert [("ok" in r) for r in replies] == [True, True, False, False, False, False]
    assert batcher.calls == 2  # one per room


async def test_a_cancelled_request_is_not_sent(redis_client: aioredis.Redis) -> None:
    await shop(redis_client, "cancel")
    batcher = ReserveBatcher(Scripts(redis_client), now_ms, TTL_MS, max_inflight=1)
    first = asyncio.ensure_future(batcher.reserve("cancel", args("cancel", "v1", "key-first")))
    queued = asyncio.ensure_future(batcher.reserve("cancel", args("cancel", "v2", "key-gone")))
    await asyncio.sleep(0)  # both queued; the first call is on its way
    queued.cancel()
    assert "ok" in await first
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert batcher.requests == 1
    assert not await redis_client.exists("lc:{cancel}:idem:buy:key-gone")
    assert (await books(redis_client, "cancel"))["reserved"] == 1


async def test_redis_away_fails_the_whole_batch_as_unavailable() -> None:
    client = aioredis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    try:
        batcher = ReserveBatcher(Scripts(client), now_ms, TTL_MS, max_inflight=1)
        calls = [batcher.reserve("gone", args("gone", f"v{i}", f"key-gone-{i}")) for i in range(5)]
        errors = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(e, CheckoutError) and e.code == "unavailable" for e in errors)
        assert len({id(e) for e in errors}) == 5  # each waiter raises its own exception
        assert batcher._queues == {} and batcher._senders == {}  # nothing left behind
    finally:
        await client.aclose()


def test_batcher_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        ReserveBatcher(None, now_ms, TTL_MS, max_batch=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ReserveBatcher(None, now_ms, TTL_MS, max_inflight=0)  # type: ignore[arg-type]


async def test_the_reserve_benchmark_reports_real_figures(redis_server: RedisProcess) -> None:
    pid = int(redis_server.pidfile.read_text())
    batched = await reserve._round(redis_server.url, pid, 300, 10, 200)
    single = await reserve._round(redis_server.url, pid, 300, 10, 1)
    for r in (batched, single):
        assert r["books_ok"] and r["problems"] == []
        assert r["outcomes"] == {"reserved": 10, "sold_out": 290}
        assert r["redis_cpu_us"] is not None and r["node_cpu_us"] > 0
    assert batched["sent"] == single["sent"] == 300
    assert single["calls"] == 300
    assert batched["calls"] <= 3  # two full calls, and the room's very first buy alone


async def test_a_script_error_fails_its_own_request_only(redis_client: aioredis.Redis) -> None:
    await shop(redis_client, "bug")
    batcher = ReserveBatcher(Scripts(redis_client), now_ms, TTL_MS, max_inflight=1)
    requests = [args("bug", f"v{i}", f"key-bug-{i}") for i in range(3)]
    await redis_client.hset(f"lc:{{bug}}:hold:{requests[1][2]}", "id", "taken")  # collision
    replies = await asyncio.gather(
        *(batcher.reserve("bug", a) for a in requests), return_exceptions=True
    )
    assert batcher.calls == 1
    assert isinstance(replies[1], ResponseError) and "collision" in str(replies[1])
    assert all(isinstance(r, dict) and "ok" in r for r in (replies[0], replies[2]))
    assert (await books(redis_client, "bug"))["reserved"] == 2
    assert not await redis_client.exists("lc:{bug}:idem:buy:key-bug-1")  # nothing written
