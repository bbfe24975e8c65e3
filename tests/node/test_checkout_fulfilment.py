"""The fulfilment webhook against a real aiohttp receiver on a random localhost port."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from livecart.checkout import webhook_signature
from livecart.checkout.fulfilment import (
    DELIVERY_HEADER,
    DeliveryStatus,
    WebhookDelivery,
    build_batches,
    verify_signature,
)
from livecart.checkout.sandbox import APPROVE_CARD, SandboxProvider
from livecart.checkout.service import CheckoutService

SECRET = b"shop-secret"
ROOM = "show"


class Receiver:
    """Fails the first ``failures`` requests with 503, then acknowledges; dedupes by id."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests = 0
        self.bad_signatures = 0
        self.orders: dict[str, dict[str, Any]] = {}
        self.deliveries: list[str] = []
        self.csv: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        if not verify_signature(SECRET, body, request.headers):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.requests <= self.failures:
            return web.Response(status=503)
        payload = json.loads(body)
        self.deliveries.append(request.headers[DELIVERY_HEADER])
        self.csv.append(payload["csv"])
        for order in payload["orders"]:
            self.orders.setdefault(order["id"], order)  # idempotent by order id
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver(failures=2)
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield rec, f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


async def make_orders(redis_client: aioredis.Redis, n: int) -> CheckoutService:
    svc = CheckoutService(redis_client, SandboxProvider())
    await svc.init_stock(ROOM, "p1", n)
    await svc.open_sale(ROOM, "p1", price=1000, currency="CNY", units=n, limit=1)
    for i in range(n):
        res = await svc.buy(
            ROOM, "p1", buyer_vid=f"v{i}", buyer_name="X", qty=1, key=f"b-key-{i:04}"
        )
        await svc.pay(ROOM, res["id"], buyer_vid=f"v{i}", card=APPROVE_CARD, key=f"p-key-{i:04}")
    return svc


async def test_webhook_retries_until_acknowledged_and_each_order_arrives_once(
    redis_client: aioredis.Redis, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    svc = await make_orders(redis_client, 7)
    csv_text, orders = await svc.export(ROOM)
    statuses: list[dict[str, Any]] = []

    async def on_status(status: DeliveryStatus) -> None:
        statuses.append(status.to_dict())
        await svc.save_delivery_status(ROOM, status.to_dict())

    async with aiohttp.ClientSession() as session:
        delivery = WebhookDelivery(
            ROOM, orders, url=url, secret=SECRET, session=session,
            base_delay=0.01, max_delay=0.05, batch_size=3, on_status=on_status,
        )  # fmt: skip
        status = await delivery.run()

    assert status.delivered and status.batches == 3 and status.batches_delivered == 3
    assert status.attempts == 5  # 2 refused + 3 batches
    assert status.last_error is None
    assert rec.bad_signatures == 0
    assert sorted(rec.orders) == sorted(o["id"] for o in orders)
    assert all(rec.orders[o["id"]]["amount"] == 1000 for o in orders)
    assert set(rec.deliveries) == {status.delivery_id}
    assert "".join(c.split("\n", 1)[1] for c in rec.csv).count("\n") == 7
    assert statuses[0]["last_error"] == "HTTP 503" and statuses[0]["delivered"] is False
    stored = await svc.delivery_status(ROOM)
    assert stored is not None and stored["delivered"] is True and stored["attempts"] == 5
    assert csv_text.count("\n") == 8


async def test_a_repeated_delivery_is_deduplicated_by_the_receiver(
    redis_client: aioredis.Redis, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.failures = 0
    svc = await make_orders(redis_client, 3)
    _, orders = await svc.export(ROOM)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            status = await WebhookDelivery(
                ROOM, orders, url=url, secret=SECRET, session=session
            ).run()
            assert status.delivered
    assert rec.requests == 2 and len(rec.orders) == 3
    assert rec.deliveries[0] == rec.deliveries[1]


async def test_gives_up_after_max_attempts_with_the_last_error(
    receiver: tuple[Receiver, str],
) -> None:
    rec, url = receiver
    rec.failures = 100
    async with aiohttp.ClientSession() as session:
        delivery = WebhookDelivery(
            ROOM, [], url=url, secret=SECRET, session=session, base_delay=0.01, max_attempts=3
        )
        status = await delivery.run()
    assert not status.delivered and status.attempts == 3 and status.last_error == "HTTP 503"


async def test_unreachable_receiver_is_reported() -> None:
    async with aiohttp.ClientSession() as session:
        delivery = WebhookDelivery(
            ROOM, [], url="http://127.0.0.1:9/hook", secret=SECRET, session=session,
            base_delay=0.01, max_attempts=2,
        )  # fmt: skip
        status = await delivery.run()
    assert not status.delivered and status.attempts == 2
    assert status.last_error is not None and "ClientConnectorError" in status.last_error


def test_signature_covers_id_timestamp_and_body() -> None:
    [body] = build_batches(ROOM, [])
    now = 1_763_760_000
    signed = webhook_signature.headers(SECRET, "msg-1", now, body)
    assert signed["webhook-signature"].startswith("v1,")
    assert verify_signature(SECRET, body, signed, now=now)
    assert not verify_signature(b"other", body, signed, now=now)
    assert not verify_signature(SECRET, body + b" ", signed, now=now)
    assert not verify_signature(SECRET, body, {**signed, "webhook-id": "msg-2"}, now=now)
    assert not verify_signature(SECRET, body, {}, now=now)
    assert not verify_signature(SECRET, body, signed, now=now + 301)  # a replay, later
    assert json.loads(body)["orders"] == []
