"""Through a real node: Redis SIGKILLed mid-sale, and the end of show with its webhook."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import aiohttp
from aiohttp import web

from livecart.checkout.fulfilment import verify_signature
from livecart.checkout.webhook_signature import signing_key
from livecart.redis_process import RedisProcess
from tests.hubclient import Client, connect, create_room, running_node
from tests.node.test_checkout_e2e import CARD_OK, many, open_sale


def key() -> str:
    return "k" + secrets.token_hex(8)


async def buy_until_definite(client: Client, pid: str, buy_key: str) -> dict[str, Any]:
    """Retry the same key on ``unavailable`` until a definite answer (bounded)."""
    for _ in range(60):
        reply = await client.command("buy", timeout=20, product_id=pid, qty=1, key=buy_key)
        if reply["ok"] or reply["error"]["code"] != "unavailable":
            return reply
        await asyncio.sleep(0.25)
    raise AssertionError("still unavailable after 15 s")


async def test_redis_sigkill_mid_sale_loses_no_order_and_retries_resolve(
    http: aiohttp.ClientSession, redis_server: RedisProcess, redis_client: Any
) -> None:
    async with running_node(redis_server.url, "node-a") as node:
        token = await create_room(http, node)
        host = await connect(http, node, name="Mia", token=token)
        pid = await open_sale(host, stock=60, units=60)
        early = await many(http, node, 20, "early")
        paid: list[str] = []
        for c in early:
            r = await c.command("buy", product_id=pid, qty=1, key=key())
            p = await c.command(
                "pay", reservation_id=r["data"]["reservation"]["id"], card=CARD_OK, key=key()
            )
            paid.append(p["data"]["order"]["id"])
        buyers = await many(http, node, 200, "b")
        keys = [key() for _ in buyers]
        first = [
            asyncio.create_task(c.command("buy", timeout=20, product_id=pid, qty=1, key=k))
            for c, k in zip(buyers, keys, strict=True)
        ]
        await asyncio.sleep(0.01)
        await asyncio.to_thread(redis_server.kill)
        answers = await asyncio.gather(*first)
        codes = {a["error"]["code"] for a in answers if not a["ok"]}
        assert codes <= {"unavailable", "sold_out"}, codes  # definite, or retry
        await asyncio.to_thread(redis_server.start)
        final = await asyncio.gather(
            *(buy_until_definite(c, pid, k) for c, k in zip(buyers, keys, strict=True))
        )
        # A retry with the same key gives the first definite outcome, never a second hold.
        for before, after in zip(answers, final, strict=True):
            if before["ok"]:
                assert after == {**before, "id": after["id"]}
        held = sum(1 for f in final if f["ok"])
        assert held == 40 and {f["error"]["code"] for f in final if not f["ok"]} == {"sold_out"}
        auth = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{node.url}/api/rooms/r1/figures", headers=auth) as resp:
            figures = await resp.json()
        stock = figures["stock"][pid]
        assert stock["initial"] == stock["available"] + stock["reserved"] + stock["sold"] == 60
        assert (stock["sold"], stock["reserved"]) == (20, 40)
        async with http.get(f"{node.url}/api/rooms/r1/orders.json", headers=auth) as resp:
            assert {o["id"] for o in (await resp.json())["orders"]} == set(paid)
        async with http.get(f"{node.url}/api/rooms/r1/audit", headers=auth) as resp:
            assert (await resp.json())["ok"] is True
        for c in [host, *early, *buyers]:
            await c.ws.close()


async def test_end_show_exports_and_webhook_retries_until_acknowledged(
    http: aiohttp.ClientSession, redis_server: RedisProcess, redis_client: Any
) -> None:
    seen: list[dict[str, Any]] = []
    attempts = 0
    secret = "whsec_test"

    async def receiver(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        body = await request.read()
        assert verify_signature(signing_key(secret), body, request.headers)
        if attempts <= 2:
            return web.Response(status=503)
        for order in json.loads(body)["orders"]:
            if order["id"] not in {o["id"] for o in seen}:
                seen.append(order)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", receiver)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_port = runner.addresses[0][1]
    try:
        async with running_node(
            redis_server.url,
            "node-a",
            webhook_url=f"http://127.0.0.1:{hook_port}/hook",
            webhook_secret=secret,
            webhook_base_delay=0.05,
        ) as node:
            token = await create_room(http, node)
            host = await connect(http, node, name="Mia", token=token)
            pid = await open_sale(host, stock=5, units=5, limit=2)
            viewer = await connect(http, node, name="Ann")
            bought = await viewer.command("buy", product_id=pid, qty=2, key=key())
            order = await viewer.command(
                "pay", reservation_id=bought["data"]["reservation"]["id"], card=CARD_OK, key=key()
            )
            order_id = order["data"]["order"]["id"]
            auth = {"Authorization": f"Bearer {token}"}
            async with http.post(f"{node.url}/api/rooms/r1/end", headers=auth) as resp:
                assert resp.status == 200
                ended = await resp.json()
            assert [o["id"] for o in ended["orders"]] == [order_id]
            assert order_id in ended["csv"] and ended["figures"]["orders"] == 1
            await viewer.wait_for(
                lambda c: any(
                    e["type"] == "room" and e["room"]["status"] == "ended" for e in c.events
                )
            )
            async with http.get(f"{node.url}/api/rooms/r1/orders.csv", headers=auth) as resp:
                assert resp.status == 200 and order_id in await resp.text()
            for _ in range(100):
                async with http.get(f"{node.url}/api/rooms/r1/fulfilment", headers=auth) as resp:
                    status = (await resp.json())["webhook"]
                if status and status.get("delivered"):
                    break
                await asyncio.sleep(0.05)
            assert status["delivered"] is True and status["attempts"] == 3
            assert [o["id"] for o in seen] == [order_id]
            # Ending again does not deliver twice; the viewer cannot end the show.
            async with http.post(f"{node.url}/api/rooms/r1/end", headers=auth) as resp:
                assert resp.status == 200
            async with http.post(f"{node.url}/api/rooms/r1/end") as resp:
                assert resp.status == 401
            await asyncio.sleep(0.2)
            assert [o["id"] for o in seen] == [order_id]
            await host.ws.close()
            await viewer.ws.close()
    finally:
        await runner.cleanup()
