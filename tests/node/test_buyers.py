"""Who may buy, through a real node and real WebSockets on one real Redis.

- hoarding: one client (one address) with fresh viewer identities cannot hold a whole
  limit-1 sale: past the per-address cap it gets ``too_many_holds``;
- buyer tokens (JWT, HS256 and ES256): limits and holds key on ``sub`` across viewer ids
  and sockets; bad, expired and wrong-audience tokens get documented errors;
- ``first_paid``: buying takes nothing, paying takes the units atomically, the late
  payers get ``sold_out`` and are never charged;
- a sale's own hold time reaches the buyer.

Every refusal is checked to leave stock and orders as they were.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from livecart.redis_process import RedisProcess
from livecart.web.show_api import CHECKOUT
from tests.hubclient import Client, Node, connect, create_room, running_node

CARD_OK = "4242424242424242"
SECRET = "shop-login-secret-" + "s" * 32
AUDIENCE = "livecart-shop"


def key() -> str:
    return "k" + secrets.token_hex(8)


def token(sub: str, *, secret: str = SECRET, aud: str = AUDIENCE, exp: float = 600) -> str:
    claims = {"sub": sub, "aud": aud, "exp": int(time.time() + exp), "iss": "shop"}
    return jwt.encode(claims, secret, algorithm="HS256")


def hs256(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 JWT signed by hand (PyJWT refuses a PEM key as an HMAC secret)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = part(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{part(sig)}"


async def sale(host: Client, stock: int, units: int, limit: int = 1, **terms: Any) -> str:
    added = await host.command("add_product", name="Tea", price=500, currency="CNY", stock=stock)
    pid: str = added["data"]["product"]["id"]
    opened = await host.command(
        "open_sale", product_id=pid, price=300, currency="CNY", units=units, limit=limit, **terms
    )
    assert opened["ok"], opened
    return pid


async def books(node: Node, pid: str) -> tuple[dict[str, int], int]:
    service = node.app[CHECKOUT]
    assert await service.audit("r1") == []
    return (await service.stock("r1"))[pid], (await service.figures("r1"))["orders"]


@pytest.fixture
async def capped(redis_server: RedisProcess, redis_client: aioredis.Redis) -> AsyncIterator[Node]:
    async with running_node(redis_server.url, "node-a", holds_per_address=2) as node:
        yield node


@pytest.fixture
async def signed(redis_server: RedisProcess, redis_client: aioredis.Redis) -> AsyncIterator[Node]:
    async with running_node(
        redis_server.url,
        "node-a",
        buyer_jwt_key=SECRET,
        buyer_jwt_audience=AUDIENCE,
        holds_per_address=1,  # signed-in buyers are not capped by address
    ) as node:
        yield node


async def test_one_client_cannot_hoard_a_limit_one_sale(
    http: aiohttp.ClientSession, capped: Node
) -> None:
    host = await connect(http, capped, name="Mia", token=await create_room(http, capped))
    pid = await sale(host, stock=6, units=6, limit=1)
    # six fresh identities from one address: connect without vid each time
    hoarder = [await connect(http, capped, name=f"h{i}") for i in range(6)]
    assert len({c.first["you"]["vid"] for c in hoarder}) == 6
    held = [await c.command("buy", product_id=pid, qty=1, key=key()) for c in hoarder[:2]]
    assert all(r["ok"] for r in held), held
    before = await books(capped, pid)
    third_key = key()
    for c in hoarder[2:]:
        reply = await c.command("buy", product_id=pid, qty=1, key=third_key)
        assert reply["error"]["code"] == "too_many_holds", reply
        assert (await c.command("buy", product_id=pid, qty=1, key=key()))["error"]["code"] == (
            "too_many_holds"
        )
        third_key = key()
    assert await books(capped, pid) == before
    assert before[0] == {"initial": 6, "available": 4, "reserved": 2, "sold": 0}
    # the units the hoarder could not take are still there for a real buyer
    left = (await host.command("close_sale", product_id=pid))["data"]["sale"]["units_left"]
    assert left == 4
    # paying frees a place under the cap: the cap is on unpaid holds
    rid = held[0]["data"]["reservation"]["id"]
    assert (await hoarder[0].command("pay", reservation_id=rid, card=CARD_OK, key=key()))["ok"]
    assert (await books(capped, pid))[1] == 1


async def test_a_buyer_token_keys_limits_and_holds_on_sub(
    http: aiohttp.ClientSession, signed: Node
) -> None:
    host = await connect(http, signed, name="Mia", token=await create_room(http, signed))
    pid = await sale(host, stock=5, units=5, limit=1)
    alice_phone = await connect(http, signed, name="Alice")
    alice_laptop = await connect(http, signed, name="Alice")
    bob = await connect(http, signed, name="Bob")
    assert alice_phone.first["you"]["vid"] != alice_laptop.first["you"]["vid"]
    before = await books(signed, pid)

    # no token yet, and tokens the server must refuse: documented errors, nothing changes
    no_token = await alice_phone.command("buy", product_id=pid, qty=1, key=key())
    assert no_token["error"]["code"] == "auth_required"
    refusals = {
        "bad_token": [
            token("alice", secret="another-shop-" + "x" * 40),
            token("alice", aud="someone-else"),
            "not.a.jwt",
            jwt.encode({"sub": "alice", "aud": AUDIENCE}, SECRET, algorithm="HS256"),  # no exp
            jwt.encode({"sub": "alice", "aud": AUDIENCE, "exp": 2**40}, None, algorithm="none"),
            token("ali ce"),
        ],
        "token_expired": [token("alice", exp=-120)],
    }
    for code, tokens in refusals.items():
        for bad in tokens:
            reply = await alice_phone.command("buyer_auth", token=bad)
            assert reply["error"]["code"] == code, (bad, reply)
    assert (await alice_phone.command("buyer_auth", token=12))["error"]["code"] == "bad_args"
    again = await alice_phone.command("buy", product_id=pid, qty=1, key=key())
    assert again["error"]["code"] == "auth_required"  # a refused token signs nobody in
    assert await books(signed, pid) == before

    # signed in on two sockets with two viewer ids, Alice is one buyer
    for client, sub in ((alice_phone, "alice"), (alice_laptop, "alice"), (bob, "bob")):
        reply = await client.command("buyer_auth", token=token(sub))
        assert reply["ok"] and reply["data"]["buyer"] == sub, reply
    first = await alice_phone.command("buy", product_id=pid, qty=1, key=key())
    assert first["ok"], first
    second = await alice_laptop.command("buy", product_id=pid, qty=1, key=key())
    assert second["error"]["code"] == "limit_reached"
    # Bob, from the same address, is not capped by it (holds_per_address=1)
    assert (await bob.command("buy", product_id=pid, qty=1, key=key()))["ok"]
    # the hold is Alice's, whichever socket pays it; Bob cannot
    rid = first["data"]["reservation"]["id"]
    stolen = await bob.command("pay", reservation_id=rid, card=CARD_OK, key=key())
    assert stolen["error"]["code"] == "forbidden"
    paid = await alice_laptop.command("pay", reservation_id=rid, card=CARD_OK, key=key())
    assert paid["ok"], paid
    records = (await signed.app[CHECKOUT].export("r1"))[1]
    assert [r["buyer_vid"] for r in records] == ["u:alice"]
    assert (await books(signed, pid))[0] == {
        "initial": 5,
        "available": 3,
        "reserved": 1,
        "sold": 1,
    }


async def test_a_connection_whose_token_expired_must_sign_in_again(
    http: aiohttp.ClientSession, signed: Node
) -> None:
    host = await connect(http, signed, name="Mia", token=await create_room(http, signed))
    pid = await sale(host, stock=2, units=2, limit=2)
    buyer = await connect(http, signed, name="Cat")
    # exp 25 s ago: inside the 30 s leeway, so accepted, and past it 5 s later
    assert (await buyer.command("buyer_auth", token=token("cat", exp=-25)))["ok"]
    await asyncio.sleep(5.2)
    before = await books(signed, pid)
    late = await buyer.command("buy", product_id=pid, qty=1, key=key())
    assert late["error"]["code"] == "token_expired"
    assert await books(signed, pid) == before
    assert (await buyer.command("buyer_auth", token=token("cat")))["ok"]
    assert (await buyer.command("buy", product_id=pid, qty=1, key=key()))["ok"]


async def test_es256_tokens_from_a_public_key(
    http: aiohttp.ClientSession, redis_server: RedisProcess, redis_client: aioredis.Redis
) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    async with running_node(
        redis_server.url, "node-a", buyer_jwt_public_key=public_pem, buyer_jwt_issuer="shop"
    ) as node:
        host = await connect(http, node, name="Mia", token=await create_room(http, node))
        pid = await sale(host, stock=1, units=1)
        buyer = await connect(http, node, name="Dan")
        claims = {"sub": "dan", "exp": int(time.time() + 60), "iss": "shop"}
        good = jwt.encode(claims, private, algorithm="ES256")
        wrong_issuer = jwt.encode({**claims, "iss": "other"}, private, algorithm="ES256")
        hs_forgery = hs256(claims, public_pem.encode())  # the public key as an HMAC secret
        for bad in (wrong_issuer, hs_forgery):
            assert (await buyer.command("buyer_auth", token=bad))["error"]["code"] == "bad_token"
        assert (await buyer.command("buyer_auth", token=good))["data"]["buyer"] == "dan"
        assert (await buyer.command("buy", product_id=pid, qty=1, key=key()))["ok"]
        for client in (buyer, host):  # before the node stops, not after
            await client.ws.close()


async def test_first_paid_first_served_over_websockets(
    http: aiohttp.ClientSession, node: Node
) -> None:
    host = await connect(http, node, name="Mia", token=await create_room(http, node))
    pid = await sale(host, stock=3, units=2, limit=1, policy="first_paid", hold_seconds=60)
    buyers = [await connect(http, node, name=f"b{i}") for i in range(5)]
    replies = [await b.command("buy", product_id=pid, qty=1, key=key()) for b in buyers]
    assert all(r["ok"] and r["data"]["reservation"]["state"] == "pending" for r in replies)
    res = replies[0]["data"]["reservation"]
    assert res["expires_at"] - res["created_at"] == 60_000
    # buying reserved nothing
    assert await books(node, pid) == ({"initial": 3, "available": 3, "reserved": 0, "sold": 0}, 0)
    pay_keys = [key() for _ in buyers]
    paid = await asyncio.gather(
        *(
            b.command("pay", reservation_id=r["data"]["reservation"]["id"], card=CARD_OK, key=k)
            for b, r, k in zip(buyers, replies, pay_keys, strict=True)
        )
    )
    assert sum(p["ok"] for p in paid) == 2
    assert sorted(p["error"]["code"] for p in paid if not p["ok"]) == ["sold_out"] * 3
    assert await books(node, pid) == ({"initial": 3, "available": 1, "reserved": 0, "sold": 2}, 2)
    # a sold-out payer retrying the same key gets the same answer and is not charged
    loser = next(i for i, p in enumerate(paid) if not p["ok"])
    rid = replies[loser]["data"]["reservation"]["id"]
    retry = await buyers[loser].command(
        "pay", reservation_id=rid, card=CARD_OK, key=pay_keys[loser]
    )
    assert retry["error"]["code"] == "sold_out"
    other_key = await buyers[loser].command("pay", reservation_id=rid, card=CARD_OK, key=key())
    assert other_key["error"]["code"] == "hold_expired"  # the purchase ended with sold_out
    assert await books(node, pid) == ({"initial": 3, "available": 1, "reserved": 0, "sold": 2}, 2)


async def test_a_ban_of_an_account_follows_it_across_sockets(
    http: aiohttp.ClientSession, signed: Node
) -> None:
    host = await connect(http, signed, name="Mia", token=await create_room(http, signed))
    pid = await sale(host, stock=2, units=2)
    # Eve's devices share one address; the ban also covers that address (docs/security.md,
    # "Connections"), so her fresh identity below comes from another one.
    eve_net = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)))
    elsewhere = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.3", 0)))
    phone, laptop = [await connect(eve_net, signed, name="Eve") for _ in range(2)]
    for client in (phone, laptop):
        assert (await client.command("buyer_auth", token=token("eve")))["ok"]
    assert (await host.command("ban", vid="u:eve"))["ok"]
    for client in (phone, laptop):
        with pytest.raises(ConnectionError):
            await client.wait_for(lambda c: False, timeout=5)
        assert client.server_close_code == 4003
    # a fresh viewer id with Eve's token is still Eve
    fresh = await connect(elsewhere, signed, name="Eve2")
    before = await books(signed, pid)
    reply = await fresh.command("buyer_auth", token=token("eve"))
    assert reply["error"]["code"] == "banned"
    buying = await fresh.command("buy", product_id=pid, qty=1, key=key())
    assert buying["error"]["code"] == "auth_required"  # so it cannot buy as anyone
    assert await books(signed, pid) == before
    for client in (fresh, host):  # before the node stops, not after
        await client.ws.close()
    await eve_net.close()
    await elsewhere.close()
