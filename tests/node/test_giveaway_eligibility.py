"""Giveaways over real WebSockets: who qualifies, and an auditable draw.

One real node, four rooms running a giveaway each at the same time, viewers played by
``livecart.client`` (the websockets client library):

- ``chatted``: two viewers chat while it is open; one chatted only before it opened and
  one never chats;
- ``watched`` (2 s): viewers connected before it opened stay; one joins a second before
  the end and one leaves right after it opened;
- ``bought``: one viewer buys and pays in the show; one only reserves (no order);
- ``chatted`` again, with the other viewers chatting this time.

In every room the announced eligible set is exactly the qualifying viewers, the host is
never in it, the draw recomputed here from the revealed seed (the documented algorithm,
written again in this file, not imported) gives the announced winner, the seed hashes
to the commitment announced at the start, and the winner's order at price 0 is in the
show's export.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import aiohttp

from livecart import client
from livecart.checkout.sandbox import APPROVE_CARD
from livecart.client.auctions import recompute_draw
from tests.hubclient import ADMIN, Client, Node, connect, create_room, running_node


def giveaway_event(host: Client, state: str) -> dict[str, Any] | None:
    for e in reversed(host.events):
        if e["type"] == "giveaway" and e["giveaway"]["state"] == state:
            giveaway: dict[str, Any] = e["giveaway"]
            return giveaway
    return None


async def drawn(host: Client) -> dict[str, Any]:
    await host.wait_for(lambda c: giveaway_event(c, "drawn") is not None, timeout=20)
    result = giveaway_event(host, "drawn")
    assert result is not None
    return result


async def show(
    http: aiohttp.ClientSession, node: Node, room: str, rule: str, **extra: Any
) -> tuple[Client, str, dict[str, Any]]:
    """A room with a host; the prize product (and a product on sale for ``bought``)."""
    token = await create_room(http, node, room)
    host = await connect(http, node, room, name="Mia", token=token)
    added = await host.command("add_product", name="Prize", price=5000, currency="USD", stock=5)
    return host, added["data"]["product"]["id"], {"rule": rule, "duration": 5, **extra}


async def viewers(node: Node, room: str, names: list[str]) -> dict[str, Any]:
    rooms = await asyncio.gather(*(client.connect(node.url, room, name=n) for n in names))
    return dict(zip(names, rooms, strict=True))


async def start(host: Client, pid: str, terms: dict[str, Any]) -> dict[str, Any]:
    reply = await host.command("start_giveaway", product_id=pid, **terms)
    assert reply["ok"], reply
    giveaway: dict[str, Any] = reply["data"]["giveaway"]
    assert giveaway["state"] == "open" and not giveaway.get("seed")  # not revealed yet
    return giveaway


async def chatted_room(
    http: aiohttp.ClientSession, node: Node, room: str, talkers: list[str]
) -> tuple[dict[str, Any], dict[str, Any], set[str], set[str]]:
    host, pid, terms = await show(http, node, room, "chatted")
    people = await viewers(node, room, ["Ann", "Bob", "Cat", "Dan"])
    early = next(n for n in people if n not in talkers)
    await people[early].chat("before it opens")  # too early: does not count
    opened = await start(host, pid, terms)
    for name in talkers:
        await people[name].chat(f"{name} is in")
    result = await drawn(host)
    vids = {n: r.you.vid for n, r in people.items()}
    for r in people.values():
        await r.close()
    await host.ws.close()
    return opened, result, {vids[n] for n in talkers}, set(vids.values())


async def watched_room(
    http: aiohttp.ClientSession, node: Node, room: str
) -> tuple[dict[str, Any], dict[str, Any], set[str], set[str]]:
    host, pid, terms = await show(http, node, room, "watched", watched_seconds=2)
    people = await viewers(node, room, ["Eve", "Fay", "Gus"])
    opened = await start(host, pid, terms)
    await people["Gus"].close()  # leaves at once: never watched 2 s in a row
    await asyncio.sleep(max(0.0, opened["ends_at"] / 1000 - time.time() - 1.2))
    late = await viewers(node, room, ["Hal"])  # a second before the end: too short
    result = await drawn(host)
    all_vids = {r.you.vid for r in (*people.values(), *late.values())}
    stayed = {people["Eve"].you.vid, people["Fay"].you.vid}
    for r in (people["Eve"], people["Fay"], late["Hal"]):
        await r.close()
    await host.ws.close()
    return opened, result, stayed, all_vids


async def bought_room(
    http: aiohttp.ClientSession, node: Node, room: str
) -> tuple[dict[str, Any], dict[str, Any], set[str], set[str]]:
    host, pid, terms = await show(http, node, room, "bought")
    added = await host.command("add_product", name="Mug", price=900, currency="USD", stock=9)
    mug = added["data"]["product"]["id"]
    sale = await host.command("open_sale", product_id=mug, price=800, currency="USD", units=9,
                              limit=1)  # fmt: skip
    assert sale["ok"], sale
    people = await viewers(node, room, ["Ivy", "Jon", "Kim"])
    opened = await start(host, pid, terms)
    held = await people["Ivy"].buy(mug)
    await people["Ivy"].pay(held["id"], APPROVE_CARD)
    await people["Jon"].buy(mug)  # reserves, never pays: no order
    result = await drawn(host)
    vids = {n: r.you.vid for n, r in people.items()}
    for r in people.values():
        await r.close()
    await host.ws.close()
    return opened, result, {vids["Ivy"]}, set(vids.values())


async def test_only_the_eligible_enter_and_the_draw_is_the_seeds(redis_server: Any) -> None:
    async with (
        running_node(redis_server.url, "node-g", max_sockets_per_address=0) as node,
        aiohttp.ClientSession() as http,
    ):
        rooms = await asyncio.gather(
            chatted_room(http, node, "gw-chat-1", ["Ann", "Bob"]),
            watched_room(http, node, "gw-watch"),
            bought_room(http, node, "gw-bought"),
            chatted_room(http, node, "gw-chat-2", ["Cat", "Dan"]),
        )
        winners = []
        for (opened, result, eligible, everyone), room in zip(
            rooms, ("gw-chat-1", "gw-watch", "gw-bought", "gw-chat-2"), strict=True
        ):
            assert result["id"] == opened["id"]
            assert hashlib.sha256(result["seed"].encode()).hexdigest() == opened["commitment"]
            assert set(result["eligible"]) == eligible, room
            assert not any(v.startswith("vhost") for v in result["eligible"])
            winner = result["winner"]["vid"]
            assert winner == recompute_draw(result["seed"], result["eligible"]), room
            assert winner in eligible and winner in everyone
            assert result["winner"]["name"].count("*") > 0  # masked in the room
            async with http.get(
                f"{node.url}/api/rooms/{room}/orders.json",
                headers={"Authorization": f"Bearer {ADMIN}"},
            ) as resp:
                orders = (await resp.json())["orders"]
            prizes = [o for o in orders if o["amount"] == 0]
            assert [o["buyer_vid"] for o in prizes] == [winner], room
            assert result["order_id"] == prizes[0]["id"]
            winners.append(winner)
        assert len(set(winners)) == 4
