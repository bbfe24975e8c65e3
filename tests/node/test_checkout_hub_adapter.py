"""The hub adapter: checkout commands with raw arguments in, reply data and sale events
out, checkout errors as the hub's CommandError, live stock and masked "bought" values."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from livecart.chat import loops
from livecart.chat.actor import Actor
from livecart.chat.checkout_port import CheckoutPort
from livecart.chat.commands import CheckoutCommand, parse_command
from livecart.chat.errors import CommandError
from livecart.chat.events import SaleChanged
from livecart.chat.room_state import RoomState
from livecart.checkout.hub_adapter import HubCheckout
from livecart.checkout.sandbox import APPROVE_CARD, SandboxProvider
from livecart.checkout.service import CheckoutService
from livecart.display_names import mask_name
from livecart.web.keys import HUB
from tests.hubclient import Node, connect, create_room

ROOM = "live1"
HOST = Actor("vhost0001", "Mia", "host")
VIEWER = Actor("vviewer01", "Alice", "viewer")


@pytest.fixture
async def port(redis_client: aioredis.Redis) -> HubCheckout:
    adapter = HubCheckout(CheckoutService(redis_client, SandboxProvider()))
    typed: CheckoutPort = adapter  # the hub's protocol, checked by mypy
    await typed.init_stock(ROOM, "p1", 10)
    return adapter


async def run(port: HubCheckout, actor: Actor, name: str, **args: Any) -> Any:
    command = parse_command({"cmd": name, **args})
    assert isinstance(command, CheckoutCommand)
    return await port.execute(ROOM, actor, command, RoomState(ROOM, "epoch"))


async def test_a_sale_from_open_to_order(port: HubCheckout) -> None:
    data, event = await run(
        port, HOST, "open_sale", product_id="p1", price=990, currency="CNY", units=5, limit=2
    )
    assert data["sale"]["state"] == "open"
    assert event == SaleChanged(product_id="p1", sale=data["sale"])
    assert await port.sales(ROOM) == {"p1": data["sale"]}
    assert await port.live(ROOM, None) == {"stock": {"p1": 5}, "bought": []}

    data, event = await run(port, VIEWER, "buy", product_id="p1", qty=2, key="tap-000001")
    assert event is None and data["reservation"]["amount"] == 1980
    rid = data["reservation"]["id"]
    data, _ = await run(
        port, VIEWER, "pay", reservation_id=rid, card=APPROVE_CARD, key="tap-000002"
    )
    assert data["order"]["reservation_id"] == rid and data["order"]["buyer_name"] == "Alice"
    live = await port.live(ROOM, None)
    assert live == {"stock": {"p1": 3}, "bought": [{"name": "A***e", "product_id": "p1", "qty": 2}]}
    assert (await port.live(ROOM, None))["bought"] == []  # each order is shown once per node

    data, event = await run(port, HOST, "close_sale", product_id="p1")
    assert data["sale"]["state"] == "closed" and event is not None


@pytest.mark.parametrize(
    ("name", "args", "code"),
    [
        ("buy", {"product_id": "p1", "qty": 1, "key": "tap-000001"}, "sale_not_open"),
        ("buy", {"product_id": "p1", "key": "tap-000001"}, "bad_args"),  # qty missing
        ("buy", {"product_id": "p9", "qty": 1, "key": "tap-000001"}, "not_found"),
        ("pay", {"reservation_id": "r_x", "card": APPROVE_CARD, "key": "k" * 8}, "not_found"),
        ("pay", {"reservation_id": "r_x", "card": 4242, "key": "k" * 8}, "bad_args"),
        ("open_sale", {"product_id": "p1", "price": "free"}, "bad_args"),
        ("close_sale", {"product_id": "p1"}, "not_found"),
        ("refund", {}, "bad_command"),
    ],
)
async def test_errors_become_command_errors(
    port: HubCheckout, name: str, args: dict[str, Any], code: str
) -> None:
    with pytest.raises(CommandError) as info:
        await run(port, VIEWER, name, **args)
    assert info.value.code == code
    assert info.value.as_dict()["message"]


async def test_scheduled_sale_carries_retry_after(port: HubCheckout) -> None:
    opens = int(time.time() * 1000) + 60_000
    await run(
        port, HOST, "open_sale", product_id="p1", price=1, currency="CNY", units=1, limit=1,
        opens_at=opens,
    )  # fmt: skip
    with pytest.raises(CommandError) as info:
        await run(port, VIEWER, "buy", product_id="p1", qty=1, key="tap-000003")
    assert info.value.code == "sale_not_open"
    assert info.value.retry_after is not None and 50 < info.value.retry_after <= 60


def test_mask_name() -> None:
    assert mask_name("Alice") == "A***e"
    assert mask_name("Al") == "A***l"
    assert mask_name("A") == "A***"
    assert mask_name("") == "***"


async def sell_one(svc: CheckoutService, room: str, n: int) -> None:
    res = await svc.buy(room, "p1", buyer_vid=f"v{n}", buyer_name="Bea", qty=1, key=f"buy-{n:06}")
    await svc.pay(room, res["id"], buyer_vid=f"v{n}", card=APPROVE_CARD, key=f"pay-{n:06}")


async def test_cursors_are_kept_for_the_most_recently_read_rooms_only(
    redis_client: aioredis.Redis,
) -> None:
    svc = CheckoutService(redis_client, SandboxProvider())
    adapter = HubCheckout(svc, max_rooms=3)
    for room in ("live", "gone"):
        await svc.init_stock(room, "p1", 10)
        await svc.open_sale(room, "p1", price=1, currency="CNY", units=10, limit=5)
    await adapter.live("live", None)
    await adapter.live("gone", None)
    for n in range(20):  # one node reads many rooms over its life
        await adapter.live(f"other{n}", None)
        await adapter.live("live", None)  # the served room is read all along
        assert len(adapter._cursors) <= 3
    await sell_one(svc, "live", 1)
    await sell_one(svc, "gone", 2)
    assert [b["name"] for b in (await adapter.live("live", None))["bought"]] == ["B***a"]
    # "gone" was pushed out long ago: it starts again from now on, like a new room
    assert (await adapter.live("gone", None))["bought"] == []
    await sell_one(svc, "gone", 3)
    assert len((await adapter.live("gone", None))["bought"]) == 1
    assert len(adapter._cursors) == 3


async def test_a_room_unloaded_by_its_node_drops_its_cursor(
    node: Node, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loops, "UNLOAD_AFTER", 0.1)
    room = "r-unload"
    token = await create_room(http, node, room)
    hub = node.app[HUB]
    adapter = hub.checkout
    assert isinstance(adapter, HubCheckout)
    host = await connect(http, node, room, name="Mia", token=token)
    product = await host.command("add_product", name="Scarf", price=100, currency="CNY", stock=3)
    pid = product["data"]["product"]["id"]
    sale = await host.command(
        "open_sale", product_id=pid, price=90, currency="CNY", units=3, limit=1
    )
    assert sale["ok"], sale
    deadline = time.monotonic() + 10
    while room not in adapter._cursors:  # the presence loop reads the live values
        assert time.monotonic() < deadline, "live values never read"
        await asyncio.sleep(0.05)
    await host.ws.close()
    while room in adapter._cursors:  # empty, then unloaded: the cursor goes with the room
        assert time.monotonic() < deadline, "the unloaded room kept its cursor"
        await asyncio.sleep(0.05)
