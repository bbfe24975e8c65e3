"""The end-of-show workflow (``checkout.show_end``) over a plain room port and a real
Redis, and this node's webhook deliveries (``checkout.deliveries``) against a real
aiohttp receiver on a random localhost port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from livecart.checkout.deliveries import Deliveries, WebhookTarget
from livecart.checkout.errors import CheckoutError
from livecart.checkout.fulfilment import verify_signature
from livecart.checkout.sandbox import APPROVE_CARD, SandboxProvider
from livecart.checkout.service import CheckoutService
from livecart.checkout.show_end import NOT_STARTED, ShowRoom, end_show
from livecart.redis_process import free_port

ROOM = "finale"
SECRET = b"shop-secret"


class Room:
    """A room as the hub would show it, closing sales through the real service."""

    def __init__(self, service: CheckoutService) -> None:
        self.service = service
        self.sales: dict[str, str] = {}
        self.status = "live"
        self.calls: list[str] = []

    def unclosed_sales(self) -> list[str]:
        return [pid for pid, state in self.sales.items() if state != "closed"]

    @property
    def ended(self) -> bool:
        return self.status == "ended"

    async def close_sale(self, product_id: str) -> None:
        self.calls.append(f"close {product_id}")
        self.sales[product_id] = (await self.service.close_sale(ROOM, product_id))["state"]

    async def end(self) -> None:
        self.calls.append("end")
        self.status = "ended"


class Webhook:
    def __init__(self) -> None:
        self.deliveries: list[list[str]] = []

    def deliver(self, room: str, records: Sequence[dict[str, Any]]) -> bool:
        self.deliveries.append([r["id"] for r in records])
        return True


async def open_show(svc: CheckoutService) -> tuple[Room, str]:
    """Two sales, one closed already, and one order; returns the room and the order id."""
    room = Room(svc)
    for pid in ("p1", "p2"):
        await svc.init_stock(ROOM, pid, 5)
        sale = await svc.open_sale(ROOM, pid, price=500, currency="EUR", units=5, limit=2)
        room.sales[pid] = sale["state"]
    room.sales["p2"] = (await svc.close_sale(ROOM, "p2"))["state"]
    res = await svc.buy(ROOM, "p1", buyer_vid="v1", buyer_name="Ann", qty=1, key="buy-key-1")
    order = await svc.pay(ROOM, res["id"], buyer_vid="v1", card=APPROVE_CARD, key="pay-key-1")
    return room, order["id"]


@pytest.fixture
async def svc(redis_client: aioredis.Redis) -> CheckoutService:
    return CheckoutService(redis_client, SandboxProvider())


async def test_ending_closes_what_is_open_ends_once_and_exports(svc: CheckoutService) -> None:
    room, order_id = await open_show(svc)
    typed: ShowRoom = room  # the port, checked by mypy
    ended = await end_show(ROOM, typed, svc, None)
    assert room.calls == ["close p1", "end"]
    assert [o["id"] for o in ended.orders] == [order_id] and order_id in ended.csv
    assert ended.figures["orders"] == 1 and ended.webhook is None
    assert set(ended.to_dict()) == {"orders", "csv", "figures", "webhook"}
    again = await end_show(ROOM, room, svc, None)
    assert room.calls == ["close p1", "end"]  # nothing left to do
    assert again == ended
    assert all(s["state"] == "closed" for s in (await svc.sales(ROOM)).values())


async def test_the_webhook_gets_the_export_and_the_stored_status_is_reported(
    svc: CheckoutService,
) -> None:
    room, order_id = await open_show(svc)
    hook = Webhook()
    ended = await end_show(ROOM, room, svc, hook)
    assert hook.deliveries == [[order_id]] and ended.webhook == NOT_STARTED
    await svc.save_delivery_status(ROOM, {"delivered": True, "attempts": 2})
    ended = await end_show(ROOM, room, svc, hook)
    assert ended.webhook == {"delivered": True, "attempts": 2}
    assert hook.deliveries == [[order_id], [order_id]]  # the port decides whether to start


async def test_redis_away_mid_way_keeps_what_was_done_and_a_retry_finishes(
    svc: CheckoutService, redis_client: aioredis.Redis
) -> None:
    room, order_id = await open_show(svc)
    client = aioredis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    hook = Webhook()
    try:
        away = CheckoutService(client, SandboxProvider())
        with pytest.raises(CheckoutError) as info:
            await end_show(ROOM, room, away, hook)
        assert info.value.code == "unavailable"
    finally:
        await client.aclose()
    assert room.calls == ["close p1", "end"] and hook.deliveries == []  # steps 1-2 done
    ended = await end_show(ROOM, room, svc, hook)
    assert room.calls == ["close p1", "end"] and hook.deliveries == [[order_id]]
    assert [o["id"] for o in ended.orders] == [order_id]


class Receiver:
    """Holds every request until ``release`` is set, then acknowledges it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        assert verify_signature(SECRET, body, request.headers)
        self.requests += 1
        self.arrived.set()
        await self.release.wait()
        return web.Response(status=200)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield rec, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    rec.release.set()
    await runner.cleanup()


async def wait_until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 2 s")


async def test_one_delivery_per_room_at_a_time_and_finished_ones_are_forgotten(
    receiver: tuple[Receiver, str],
) -> None:
    rec, url = receiver
    saved: list[Mapping[str, Any]] = []

    async def save(room: str, status: Mapping[str, Any]) -> None:
        saved.append(status)

    deliveries = Deliveries(WebhookTarget(url, SECRET, base_delay=0.01), save)
    orders = [{"id": "o_1", "qty": 1}]
    assert deliveries.deliver(ROOM, orders) is True
    assert deliveries.deliver(ROOM, orders) is False  # running: not a second one
    assert deliveries.deliver("other", orders) is True
    await asyncio.wait_for(rec.arrived.wait(), 5)
    assert len(deliveries) == 2 and deliveries.running(ROOM)
    rec.release.set()
    await wait_until(lambda: len(deliveries) == 0)
    assert rec.requests == 2 and saved[-1]["delivered"] is True
    assert deliveries.deliver(ROOM, orders) is True  # finished: a new call delivers again
    await wait_until(lambda: len(deliveries) == 0)
    assert rec.requests == 3
    await deliveries.close()


async def test_close_cancels_running_deliveries(receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver

    async def save(room: str, status: Mapping[str, Any]) -> None:
        raise CheckoutError("unavailable", "Redis is away")  # ignored by the delivery

    deliveries = Deliveries(WebhookTarget(url, SECRET), save)
    assert deliveries.deliver(ROOM, [])
    await asyncio.wait_for(rec.arrived.wait(), 5)
    await deliveries.close()
    assert len(deliveries) == 0 and not deliveries.running(ROOM)
