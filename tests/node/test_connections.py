"""Connection hygiene against a real node (docs/security.md, "Connections"): the
per-address socket cap, X-Forwarded-For from trusted proxies only, the Origin rule,
the handshake deadline, unmasked frames, the host token as a subprotocol, and chat
limits, bans, explain counts and viewer counts that hold across one client's sockets.

Several client addresses come from the loopback range (127.0.0.2, ...)."""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from livecart.connections import GATE
from tests.hubclient import Client, Node, connect, create_room, raw_upgrade, running_node

pytestmark = pytest.mark.node


@asynccontextmanager
async def node_with(redis_url: str, **config: object) -> AsyncIterator[Node]:
    async with running_node(redis_url, **config) as n:
        yield n


@asynccontextmanager
async def from_address(ip: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(ip, 0), limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def handshake_status(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> int:
    try:
        ws = await http.ws_connect(url, headers=headers or {})
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def test_socket_cap_per_address_chat_and_video_together(redis_url: str) -> None:
    async with (
        node_with(redis_url, max_sockets_per_address=3) as node,
        aiohttp.ClientSession() as http,
        from_address("127.0.0.2") as other,
    ):
        await create_room(http, node)
        a = await connect(http, node)
        b = await connect(http, node)
        video = await http.ws_connect(f"{node.url}/ws/video/r1")
        # the fourth socket from 127.0.0.1 is refused before the upgrade
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{node.url}/ws/r1")
        assert refused.value.status == 429
        assert refused.value.headers is not None and refused.value.headers["Retry-After"]
        assert await handshake_status(http, f"{node.url}/ws/video/r1") == 429
        # another address is not affected
        c = await connect(other, node)
        assert c.first["t"] == "snapshot"
        # a closed socket frees its place
        await video.close()
        await asyncio.sleep(0.1)
        d = await connect(http, node)
        assert d.first["t"] == "snapshot"
        gate = node.app[GATE]
        assert gate.open["127.0.0.1"] == 3 and gate.refused["per_address"] == 2
        for client in (a, b, c, d):
            await client.ws.close()


async def test_forwarded_for_is_believed_only_from_trusted_proxies(redis_url: str) -> None:
    async with (
        node_with(redis_url, max_sockets_per_address=2, trusted_proxies=("127.0.0.1/32",)) as n,
        aiohttp.ClientSession() as http,
    ):
        await create_room(http, n)
        url = f"{n.url}/ws/r1"
        one = {"X-Forwarded-For": "198.51.100.7"}
        kept = [await http.ws_connect(url, headers=one) for _ in range(2)]
        assert await handshake_status(http, url, one) == 429  # the same client, via the proxy
        # a forged entry before the proxy's own does not make a new client
        assert (
            await handshake_status(http, url, {"X-Forwarded-For": "1.1.1.1, 198.51.100.7"}) == 429
        )
        assert await handshake_status(http, url, {"X-Forwarded-For": "198.51.100.8"}) == 101
        for ws in kept:
            await ws.close()
        # 127.0.0.2 is not a trusted proxy: its X-Forwarded-For is ignored, so it
        # cannot dodge the cap by naming a new address each time
        async with from_address("127.0.0.2") as other:
            held = [
                await other.ws_connect(url, headers={"X-Forwarded-For": f"203.0.113.{i}"})
                for i in range(2)
            ]
            assert await handshake_status(other, url, {"X-Forwarded-For": "203.0.113.9"}) == 429
            for ws in held:
                await ws.close()


async def test_origin_allowlist(redis_url: str) -> None:
    allowed = ("https://shop.example",)
    async with (
        node_with(redis_url, allowed_origins=allowed, public_url="https://live.example") as n,
        aiohttp.ClientSession() as http,
    ):
        await create_room(http, n)
        url = f"{n.url}/ws/r1"
        host = f"127.0.0.1:{n.port}"
        assert await handshake_status(http, url) == 101  # no Origin: not a browser
        assert await handshake_status(http, url, {"Origin": f"http://{host}"}) == 101
        assert await handshake_status(http, url, {"Origin": "https://live.example"}) == 101
        assert await handshake_status(http, url, {"Origin": "https://SHOP.example:443"}) == 101
        for evil in ("https://evil.example", "null", f"http://{host}.evil.example"):
            assert await handshake_status(http, url, {"Origin": evil}) == 403, evil
        assert await handshake_status(http, f"{n.url}/ws/video/r1", {"Origin": "null"}) == 403


async def _slow_client(port: int, stop: asyncio.Event) -> float | None:
    """Send a request head a byte every 0.1 s; return when the server closed it (s)."""
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"GET /ws/r1 HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 1000
    try:
        for byte in head:
            if stop.is_set():
                return None
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1024), 0.1) == b"":
                    return time.monotonic() - start
            except TimeoutError:
                continue
        return None
    except ConnectionError:
        return time.monotonic() - start
    finally:
        writer.close()


async def test_slow_request_heads_are_cut_at_the_deadline(redis_url: str) -> None:
    deadline = 2.0
    async with node_with(redis_url, handshake_timeout=deadline) as n, aiohttp.ClientSession() as h:
        await create_room(h, n)
        stop = asyncio.Event()
        slow = [asyncio.ensure_future(_slow_client(n.port, stop)) for _ in range(150)]
        await asyncio.sleep(0.5)
        ok = await connect(h, n)  # a normal client gets in meanwhile
        assert ok.first["t"] == "snapshot"
        await ok.ws.close()
        done, pending = await asyncio.wait(slow, timeout=deadline + 3)
        stop.set()
        closed = [t.result() for t in done]
        assert not pending and len(closed) == 150
        assert all(c is not None and c <= deadline + 2.5 for c in closed), max(
            c or 99 for c in closed
        )


def _frame(payload: bytes, masked: bool) -> bytes:
    if not masked:
        return bytes([0x81, len(payload)]) + payload
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


async def test_unmasked_client_frame_closes_with_1002(redis_url: str) -> None:
    async with node_with(redis_url) as n, aiohttp.ClientSession() as http:
        await create_room(http, n)
        reader, writer = await raw_upgrade(n.port)
        writer.write(_frame(b'{"id":1,"cmd":"ping"}', masked=True))
        writer.write(_frame(b'{"id":2,"cmd":"ping"}', masked=False))
        await writer.drain()
        data = b""
        deadline = time.monotonic() + 5
        close_code = None
        while time.monotonic() < deadline and close_code is None:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            if not chunk:
                break
            data += chunk
            while len(data) >= 2:  # server frames are unmasked, payloads < 64 KiB here
                n_len = data[1] & 0x7F
                off = 2 + (2 if n_len == 126 else 0)
                if n_len == 126:
                    n_len = struct.unpack(">H", data[2:4])[0]
                if len(data) < off + n_len:
                    break
                opcode, payload, data = data[0] & 0x0F, data[off : off + n_len], data[off + n_len :]
                if opcode == 0x8:
                    close_code = struct.unpack(">H", payload[:2])[0]
        writer.close()
        assert close_code == 1002


async def test_host_token_rides_as_a_subprotocol_not_in_the_url(redis_url: str) -> None:
    async with node_with(redis_url) as n, aiohttp.ClientSession() as http:
        token = await create_room(http, n)
        host = await connect(http, n, token=token)
        assert host.first["you"]["role"] == "host"
        assert host.ws.protocol == "livecart.v1.json"  # the server selects the format only
        # ?token= is not read any more: such a client joins as a viewer
        ws = await http.ws_connect(f"{n.url}/ws/r1", params={"token": token})
        first = await ws.receive_json(timeout=5)
        assert first["you"]["role"] == "viewer"
        await ws.close()
        await host.ws.close()


async def _burst(clients: list[Client], each: int) -> int:
    """Each client sends ``each`` messages at once (all clients together); the number
    accepted."""

    async def one(c: Client) -> int:
        replies = [await c.command("chat", text=f"hi {i}") for i in range(each)]
        return sum(1 for r in replies if r["ok"])

    return sum(await asyncio.gather(*(one(c) for c in clients)))


async def test_chat_budget_holds_across_sockets_of_one_client(redis_url: str) -> None:
    async with node_with(redis_url) as n, aiohttp.ClientSession() as http:
        await create_room(http, n)
        # three sockets, three fresh identities, one address: the address's budget
        # (2 a second, bursts of 6) holds, not 3 x 3
        fresh = [await connect(http, n, name=f"F{i}") for i in range(3)]
        start = time.monotonic()
        accepted = await _burst(fresh, 3)
        refilled = 2 * (time.monotonic() - start)  # the address's 2 a second meanwhile
        assert 6 <= accepted <= 6 + refilled + 1, (accepted, refilled)
        async with from_address("127.0.0.2") as other:
            # three sockets of one identity share the viewer's budget (bursts of 3)
            first = await connect(other, n, name="Same")
            vid = first.first["you"]["token"]
            same = [first, *[await connect(other, n, name="Same", vid=vid) for _ in range(2)]]
            start = time.monotonic()
            accepted = await _burst(same, 3)
            refilled = 1 * (time.monotonic() - start)  # the viewer's 1 a second meanwhile
            assert 3 <= accepted <= 3 + int(refilled), (accepted, refilled)
            for c in (*fresh, *same):
                await c.ws.close()


async def test_ban_covers_the_address_and_counts_are_not_inflated(redis_url: str) -> None:
    async with node_with(redis_url) as n, aiohttp.ClientSession() as http:
        token = await create_room(http, n)
        host = await connect(http, n, token=token)
        pid = (await host.command("add_product", name="A", price=1, currency="CNY", stock=1))[
            "data"
        ]["product"]["id"]
        async with from_address("127.0.0.2") as bad, from_address("127.0.0.3") as good:
            troll = await connect(bad, n, name="Troll")
            spare = await connect(bad, n, name="Spare")  # opened before the ban
            honest = await connect(good, n, name="Ann")
            # explain: one count per address, however many sockets and identities
            for c in (troll, spare):
                assert (await c.command("explain", product_id=pid))["data"]["requests"] == 1
            assert (await honest.command("explain", product_id=pid))["data"]["requests"] == 2
            # viewers: one identity on three sockets counts once
            vid = honest.first["you"]["token"]
            twins = [await connect(good, n, name="Ann", vid=vid) for _ in range(2)]
            await host.wait_for(lambda c: c.live.get("viewers") == 3, timeout=4)

            assert (await host.command("ban", vid=troll.first["you"]["vid"]))["ok"]
            with pytest.raises(ConnectionError):
                await troll.wait_for(lambda c: False, timeout=3)
            # a new identity from the banned address cannot join...
            again = await bad.ws_connect(f"{n.url}/ws/r1")
            msg = await again.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4003
            # ...nor chat from a socket it opened before the ban
            refused = await spare.command("chat", text="still here")
            assert refused["error"]["code"] == "banned"
            assert (await honest.command("chat", text="hello"))["ok"]
            # an unban lifts the address ban too
            assert (await host.command("unban", vid=troll.first["you"]["vid"]))["ok"]
            await asyncio.sleep(0.3)
            back = await connect(bad, n, name="Back")
            assert back.first["t"] == "snapshot"
            for c in (spare, honest, *twins, back, host):
                await c.ws.close()
