"""A client that stops reading is cut off with 4008; 200 others keep their latency."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time

import aiohttp

from livecart.loadtest.server_counters import server_counters
from tests.hubclient import Client, Node, connect, create_room


async def raw_ws(node: Node, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket whose reader will stop pulling from the socket once 64 KiB wait."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", node.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=64 * 1024)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


async def read_until_close(reader: asyncio.StreamReader, timeout: float) -> int:
    """Read frames until the close frame; return its code."""

    async def loop() -> int:
        while True:
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await reader.readexactly(8))
            payload = await reader.readexactly(n)
            if b0 & 0x0F == 0x8:
                code: int = struct.unpack("!H", payload[:2])[0]
                return code

    return await asyncio.wait_for(loop(), timeout)


async def test_slow_consumer_is_cut_off_and_others_keep_latency(
    http: aiohttp.ClientSession, node: Node
) -> None:
    token = await create_room(http, node)
    viewers: list[Client] = []
    for start in range(0, 200, 50):
        viewers += await asyncio.gather(
            *(connect(http, node, name=f"v{i}") for i in range(start, start + 50))
        )
    reader, writer = await raw_ws(node, "/ws/r1?name=sleepy")
    latencies: list[float] = []
    received = [0] * len(viewers)

    async def read(i: int, client: Client) -> None:
        while True:
            frame = await client.recv(timeout=30)
            now = time.time() * 1000
            for event in frame.get("events", []):
                if event["type"] == "chat":
                    received[i] += 1
                    latencies.append(now - event["ts"])

    readers = [asyncio.create_task(read(i, v)) for i, v in enumerate(viewers)]
    text = "🛍" * 280  # 1,120 bytes of UTF-8: the slow client's backlog grows fast
    sent = 0
    headers = {"Authorization": f"Bearer {token}"}

    async def post() -> None:
        async with http.post(
            f"{node.url}/api/rooms/r1/commands", json={"cmd": "chat", "text": text}, headers=headers
        ) as resp:
            assert resp.status == 200, await resp.text()

    deadline = time.monotonic() + 60
    closed = False
    while time.monotonic() < deadline:
        await asyncio.gather(*(post() for _ in range(20)))
        sent += 20
        await asyncio.sleep(0.02)  # ~500 messages/s offered
        async with http.get(f"{node.url}/metrics") as resp:
            if server_counters(await resp.text())["slow_closed"] >= 1:
                closed = True
                break
    assert closed, "the slow consumer was never cut off"
    code = await read_until_close(reader, timeout=4)
    writer.close()
    assert code == 4008
    # Every other viewer got every message, in time, none of them skipped.
    t_end = time.monotonic() + 10
    while min(received) < sent and time.monotonic() < t_end:
        await asyncio.sleep(0.1)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    assert received == [sent] * len(viewers)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    assert p99 < 1500, f"p99 {p99:.0f} ms with the test client and server on one loop"
    assert not any(f.get("skipped") for v in viewers for f in v.frames)
    for v in viewers:
        await v.ws.close()
