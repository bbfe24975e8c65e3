"""Host routes around orders: live figures, the book check, end of show, export, webhook.

- ``GET  /api/rooms/{room}/figures``  orders, units, revenue, commission per host, stock
- ``GET  /api/rooms/{room}/audit``    the books check: ``{"ok": bool, "problems": [...]}``
- ``POST /api/rooms/{room}/end``      status -> ended, open sales closed, orders exported,
                                      the fulfilment webhook started (when configured)
- ``GET  /api/rooms/{room}/orders.csv`` / ``orders.json``  the show's orders
- ``GET  /api/rooms/{room}/fulfilment``  the webhook delivery status

All need the room's host token (or the admin token) as a Bearer token. Refusals (401,
checkout's error codes, 503) are answered by ``web.api.errors_middleware``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from livecart.chat import commands as c
from livecart.checkout.errors import CheckoutError
from livecart.checkout.fulfilment import DeliveryStatus, WebhookDelivery
from livecart.checkout.service import CheckoutService
from livecart.web.api import host_actor
from livecart.web.keys import CONFIG, HUB

log = logging.getLogger(__name__)

CHECKOUT = web.AppKey("checkout", CheckoutService)
DELIVERIES = web.AppKey("deliveries", dict[str, "asyncio.Task[DeliveryStatus]"])


async def figures(request: web.Request) -> web.Response:
    await host_actor(request)
    room = request.match_info["room"]
    service = request.app[CHECKOUT]
    data = await service.figures(room)
    data["stock"] = await service.stock(room)
    return web.json_response(data)


async def audit(request: web.Request) -> web.Response:
    await host_actor(request)
    problems = await request.app[CHECKOUT].audit(request.match_info["room"])
    return web.json_response({"ok": not problems, "problems": problems})


async def orders_csv(request: web.Request) -> web.Response:
    await host_actor(request)
    room = request.match_info["room"]
    text, _ = await request.app[CHECKOUT].export(room)
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{room}-orders.csv"'},
    )


async def orders_json(request: web.Request) -> web.Response:
    await host_actor(request)
    _, records = await request.app[CHECKOUT].export(request.match_info["room"])
    return web.json_response({"orders": records})


async def end_show(request: web.Request) -> web.Response:
    """End the show: idempotent; a second call re-reports and does not deliver twice."""
    actor = await host_actor(request)
    room_id = request.match_info["room"]
    hub = request.app[HUB]
    service = request.app[CHECKOUT]
    room = await hub.room(room_id)
    for product_id, sale in list(room.state.sales.items()):
        if sale.get("state") != "closed":
            await hub.execute(
                room, actor, c.parse_command({"cmd": "close_sale", "product_id": product_id})
            )
    if room.state.status != "ended":
        await hub.execute(room, actor, c.parse_command({"cmd": "status", "status": "ended"}))
    text, records = await service.export(room_id)
    totals = await service.figures(room_id)
    config = request.app[CONFIG]
    webhook: dict[str, Any] | None = None
    if config.webhook_url:
        running = request.app[DELIVERIES].get(room_id)
        if running is None or running.done():
            _start_delivery(request.app, room_id, records)
        webhook = await service.delivery_status(room_id) or {"delivered": False, "attempts": 0}
    return web.json_response(
        {"orders": records, "csv": text, "figures": totals, "webhook": webhook}
    )


def _start_delivery(app: web.Application, room_id: str, records: list[dict[str, Any]]) -> None:
    config = app[CONFIG]
    service = app[CHECKOUT]
    assert config.webhook_url is not None

    async def save(status: DeliveryStatus) -> None:
        with contextlib.suppress(CheckoutError):
            await service.save_delivery_status(room_id, status.to_dict())

    async def deliver() -> DeliveryStatus:
        async with aiohttp.ClientSession() as session:
            delivery = WebhookDelivery(
                room_id,
                records,
                url=config.webhook_url or "",
                secret=(config.webhook_secret or "").encode(),
                session=session,
                base_delay=config.webhook_base_delay,
                on_status=save,
            )
            await save(delivery.status)
            return await delivery.run()

    app[DELIVERIES][room_id] = asyncio.get_running_loop().create_task(deliver())


async def fulfilment(request: web.Request) -> web.Response:
    await host_actor(request)
    status = await request.app[CHECKOUT].delivery_status(request.match_info["room"])
    return web.json_response(
        {"webhook": status, "configured": bool(request.app[CONFIG].webhook_url)}
    )


async def deliveries_ctx(app: web.Application) -> AsyncIterator[None]:
    app[DELIVERIES] = {}
    yield
    for task in app[DELIVERIES].values():
        task.cancel()
    for task in app[DELIVERIES].values():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def setup_show_api(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/rooms/{room}/figures", figures)
    r.add_get("/api/rooms/{room}/audit", audit)
    r.add_post("/api/rooms/{room}/end", end_show)
    r.add_get("/api/rooms/{room}/orders.csv", orders_csv)
    r.add_get("/api/rooms/{room}/orders.json", orders_json)
    r.add_get("/api/rooms/{room}/fulfilment", fulfilment)
    app.cleanup_ctx.append(deliveries_ctx)
