"""Host routes around orders: live figures, the book check, end of show, export, webhook.

- ``GET  /api/rooms/{room}/figures``  orders, units, revenue, commission per host, stock;
                                      ``replay``: the orders bought from replays, views
- ``GET  /api/rooms/{room}/audit``    the books check: ``{"ok": bool, "problems": [...]}``
- ``POST /api/rooms/{room}/end``      status -> ended, open sales closed, orders exported,
                                      the fulfilment webhook started (when configured)
- ``GET  /api/rooms/{room}/orders.csv`` / ``orders.json``  the show's orders
- ``GET  /api/rooms/{room}/fulfilment``  the webhook delivery status

All need the room's host token (or the admin token) as a Bearer token. Refusals (401,
checkout's error codes, 503) are answered by ``web.api.errors_middleware``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from livecart.checkout.deliveries import Deliveries, WebhookTarget
from livecart.checkout.service import CheckoutService
from livecart.checkout.show_end import end_show
from livecart.checkout.webhook_signature import signing_key
from livecart.http_contract import Operation, Reply
from livecart.web import schemas as s
from livecart.web.api import add_routes, host_actor, host_operation, refusals
from livecart.web.keys import CONFIG, HUB
from livecart.web.replay_api import replay_views
from livecart.web.show_room import HubShowRoom

CHECKOUT = web.AppKey("checkout", CheckoutService)
DELIVERIES = web.AppKey("deliveries", Deliveries)  # set only with a webhook configured

FIGURES = host_operation(
    "figures",
    "GET",
    "/figures",
    "Live figures: orders, revenue, commission, stock",
    Reply(200, "the figures", s.Figures),
)
AUDIT = host_operation(
    "audit", "GET", "/audit", "The books check", Reply(200, "ok and the problems", s.Audit)
)
END = Operation(
    "endShow", "POST", "/api/rooms/{room}/end", "End the show", "host",
    (Reply(200, "ended: orders, CSV, figures, webhook status", s.ShowEnded),
     *refusals(401, 404, 409)),
    params=FIGURES.params, security=FIGURES.security, body_required=False,
    description="Closes open sales, marks the room ended, exports the orders and starts "
    "the fulfilment webhook when one is configured. Idempotent.",
)  # fmt: skip
ORDERS_CSV = host_operation(
    "ordersCsv", "GET", "/orders.csv", "The show's orders as CSV",
    Reply(200, "CSV, one order a line", None, media="text/csv",
          headers=("Content-Disposition",)),
)  # fmt: skip
ORDERS_JSON = host_operation(
    "ordersJson", "GET", "/orders.json", "The show's orders", Reply(200, "orders", s.Orders)
)
FULFILMENT = host_operation(
    "fulfilment",
    "GET",
    "/fulfilment",
    "The webhook delivery status",
    Reply(200, "status (null before the show ends)", s.Fulfilment),
)


async def figures(request: web.Request) -> web.Response:
    await host_actor(request)  # also checks the room's name
    room = request.match_info["room"]
    service = request.app[CHECKOUT]
    data = await service.figures(room)
    data["stock"] = await service.stock(room)
    data["replay"]["views"] = await replay_views(request.app, room)
    return web.json_response(data)


async def audit(request: web.Request) -> web.Response:
    await host_actor(request)
    problems = await request.app[CHECKOUT].audit(request.match_info["room"])
    return web.json_response({"ok": not problems, "problems": problems})


async def orders_csv(request: web.Request) -> web.Response:
    await host_actor(request)  # also checks the room's name
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


async def end(request: web.Request) -> web.Response:
    """End the show: ``checkout.show_end.end_show`` (idempotent; a second call while the
    webhook delivery runs does not start another)."""
    actor = await host_actor(request)
    room_id = request.match_info["room"]
    hub = request.app[HUB]
    room = HubShowRoom(hub, await hub.room(room_id), actor)
    webhook = request.app.get(DELIVERIES)
    ended = await end_show(room_id, room, request.app[CHECKOUT], webhook)
    return web.json_response(ended.to_dict())


async def fulfilment(request: web.Request) -> web.Response:
    await host_actor(request)
    status = await request.app[CHECKOUT].delivery_status(request.match_info["room"])
    return web.json_response(
        {"webhook": status, "configured": bool(request.app[CONFIG].webhook_url)}
    )


async def deliveries_ctx(app: web.Application) -> AsyncIterator[None]:
    """The webhook deliveries of this node, when a webhook is configured; cancelled and
    awaited on shutdown."""
    config = app[CONFIG]
    if not config.webhook_url:
        yield
        return

    async def save(room_id: str, status: Mapping[str, Any]) -> None:
        await app[CHECKOUT].save_delivery_status(room_id, status)

    target = WebhookTarget(
        config.webhook_url, signing_key(config.webhook_secret or ""), config.webhook_base_delay
    )
    app[DELIVERIES] = deliveries = Deliveries(target, save)
    yield
    await deliveries.close()


ROUTES: tuple[tuple[Operation, Handler], ...] = (
    (FIGURES, figures),
    (AUDIT, audit),
    (END, end),
    (ORDERS_CSV, orders_csv),
    (ORDERS_JSON, orders_json),
    (FULFILMENT, fulfilment),
)


def setup_show_api(app: web.Application) -> None:
    add_routes(app, ROUTES)
    app.cleanup_ctx.append(deliveries_ctx)
