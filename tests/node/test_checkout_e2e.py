"""Checkout through real nodes: WebSocket buyers on two nodes, one real Redis."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aiohttp

from tests.hubclient import Client, Node, connect, create_room

CARD_OK = "4242424242424242"
CARD_DECLINE = "4000000000000002"


async def open_sale(host: Client, stock: int, units: int, limit: int = 1) -> str:
    added = await host.command(
        "add_product", name="Scarf", price=12900, currency="CNY", stock=stock
    )
    pid: str = added["data"]["product"]["id"]
    assert (await host.command("pin", product_id=pid))["ok"]
    sale = await host.command(
        "open_sale", product_id=pid, price=9900, currency="CNY", units=units, limit=limit
    )
    assert sale["ok"], sale
    return pid


async def many(http: aiohttp.ClientSession, node: Node, n: int, prefix: str) -> list[Client]:
    clients: list[Client] = []
    for start in range(0, n, 100):
        clients += await asyncio.gather(
            *(connect(http, node, name=f"{prefix}{i}") for i in range(start, min(n, start + 100)))
        )
    return clients


def key() -> str:
    return "k" + secrets.token_hex(8)


async def test_two_thousand_buyers_over_two_nodes_for_100_units(
    http: aiohttp.ClientSession, two_nodes: tuple[Node, Node]
) -> None:
    a, b = two_nodes
    token = await create_room(http, a)
    host = await connect(http, a, name="Mia", token=token)
    pid = await open_sale(host, stock=150, units=100)
    buyers = await many(http, a, 1000, "a") + await many(http, b, 1000, "b")
    replies = await asyncio.gather(
        *(c.command("buy", timeout=60, product_id=pid, qty=1, key=key()) for c in buyers)
    )
    reserved = [(c, r) for c, r in zip(buyers, replies, strict=True) if r["ok"]]
    refused = [r["error"]["code"] for r in replies if not r["ok"]]
    assert len(reserved) == 100
    assert set(refused) == {"sold_out"} and len(refused) == 1900  # one definite reply each
    paid = await asyncio.gather(
        *(
            c.command(
                "pay",
                timeout=60,
                reservation_id=r["data"]["reservation"]["id"],
                card=CARD_OK,
                key=key(),
            )
            for c, r in reserved
        )
    )
    assert all(p["ok"] for p in paid), [p for p in paid if not p["ok"]][:3]
    order_ids = {p["data"]["order"]["id"] for p in paid}
    auth = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{b.url}/api/rooms/r1/figures", headers=auth) as resp:
        figures = await resp.json()
    assert figures["orders"] == 100 and figures["units_sold"] == 100
    stock = figures["stock"][pid]
    assert (stock["sold"], stock["reserved"], stock["available"]) == (100, 0, 50)
    assert stock["initial"] == stock["available"] + stock["reserved"] + stock["sold"]
    async with http.get(f"{a.url}/api/rooms/r1/orders.json", headers=auth) as resp:
        orders = (await resp.json())["orders"]
    assert {o["id"] for o in orders} == order_ids
    async with http.get(f"{a.url}/api/rooms/r1/audit", headers=auth) as resp:
        assert await resp.json() == {"ok": True, "problems": []}
    # Everyone in the room sees the stock reach 0 (a live value, conflated).
    await buyers[-1].wait_for(lambda c: c.live.get("stock", {}).get(pid) == 0, timeout=5)
    await host.wait_for(lambda c: bool(c.live.get("bought")), timeout=5)
    for c in [host, *buyers]:
        await c.ws.close()


async def test_same_key_ten_times_through_both_nodes_is_one_purchase(
    http: aiohttp.ClientSession, two_nodes: tuple[Node, Node]
) -> None:
    a, b = two_nodes
    token = await create_room(http, a)
    host = await connect(http, a, name="Mia", token=token)
    pid = await open_sale(host, stock=10, units=10, limit=5)
    vid_token = (await connect(http, a, name="Ann")).first["you"]["token"]
    sockets = [await connect(http, (a, b)[i % 2], name="Ann", vid=vid_token) for i in range(10)]
    buy_key = key()
    buys = await asyncio.gather(
        *(s.command("buy", product_id=pid, qty=2, key=buy_key) for s in sockets)
    )
    first = buys[0]
    assert first["ok"], first
    assert all(r["ok"] and r["data"] == first["data"] for r in buys)
    rid = first["data"]["reservation"]["id"]
    pay_key = key()
    pays = await asyncio.gather(
        *(
            s.command("pay", timeout=20, reservation_id=rid, card=CARD_OK, key=pay_key)
            for s in sockets
        )
    )
    done = [p for p in pays if p["ok"]]
    assert done and all(p["data"] == done[0]["data"] for p in done)
    assert all(p["error"]["code"] == "in_progress" for p in pays if not p["ok"])
    again = await sockets[3].command("pay", reservation_id=rid, card=CARD_OK, key=pay_key)
    assert again["ok"] and again["data"] == done[0]["data"]
    # Same key, other parameters: refused, nothing changed.
    reused = await sockets[0].command("buy", product_id=pid, qty=1, key=buy_key)
    assert reused["error"]["code"] == "key_reused"
    auth = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{b.url}/api/rooms/r1/figures", headers=auth) as resp:
        figures = await resp.json()
    assert figures["orders"] == 1 and figures["stock"][pid]["sold"] == 2
    assert figures["stock"][pid]["reserved"] == 0
    for c in [host, *sockets]:
        await c.ws.close()


async def test_checkout_bad_input_and_declines_change_nothing(
    http: aiohttp.ClientSession, node: Node
) -> None:
    token = await create_room(http, node)
    host = await connect(http, node, name="Mia", token=token)
    pid = await open_sale(host, stock=5, units=5, limit=2)
    other = await host.command("add_product", name="Not on sale", price=1, currency="CNY", stock=3)
    other_pid = other["data"]["product"]["id"]
    viewer = await connect(http, node, name="Ann")
    auth = {"Authorization": f"Bearer {token}"}

    async def stock() -> dict[str, Any]:
        async with http.get(f"{node.url}/api/rooms/r1/figures", headers=auth) as resp:
            data: dict[str, Any] = (await resp.json())["stock"]
            return data

    before = await stock()
    cases = [
        ({"product_id": pid, "qty": 0, "key": key()}, "bad_args"),
        ({"product_id": pid, "qty": -1, "key": key()}, "bad_args"),
        ({"product_id": pid, "qty": "1", "key": key()}, "bad_args"),
        ({"product_id": pid, "qty": 1, "key": "short"}, "bad_args"),
        ({"product_id": pid, "qty": 1, "key": ["x"] * 9}, "bad_args"),
        ({"product_id": "nope", "qty": 1, "key": key()}, "not_found"),
        ({"product_id": other_pid, "qty": 1, "key": key()}, "sale_not_open"),
        ({"product_id": pid, "qty": 3, "key": key()}, "limit_reached"),
        ({"product_id": {"$gt": ""}, "qty": 1, "key": key()}, "bad_args"),
    ]
    for args, code in cases:
        reply = await viewer.command("buy", **args)
        assert not reply["ok"] and reply["error"]["code"] == code, (args, reply)
    opened = await viewer.command(
        "open_sale", product_id=pid, price=1, currency="CNY", units=1, limit=1
    )
    assert opened["error"]["code"] == "forbidden"
    bad_pay = await viewer.command("pay", reservation_id="r_nope", card=CARD_OK, key=key())
    assert bad_pay["error"]["code"] in ("not_found", "bad_args")
    assert await stock() == before
    # A declined card releases the hold.
    held = await viewer.command("buy", product_id=pid, qty=2, key=key())
    assert (await stock())[pid]["reserved"] == 2
    declined = await viewer.command(
        "pay", reservation_id=held["data"]["reservation"]["id"], card=CARD_DECLINE, key=key()
    )
    assert declined["error"]["code"] == "payment_declined"
    assert await stock() == before
    for c in (host, viewer):
        await c.ws.close()
