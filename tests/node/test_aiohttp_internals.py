"""The aiohttp internals livecart.aiohttp_internals relies on, against real servers.

If one of these fails after an aiohttp upgrade, do not loosen the test: adapt
livecart/aiohttp_internals.py, and move SUPPORTED and pyproject.toml's range with it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import tomllib
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from livecart.aiohttp_internals import (
    SUPPORTED,
    AiohttpInternalsChanged,
    check_aiohttp,
    take_socket,
    websocket_handshake,
)
from tests.hubclient import create_room, running_node

ROOT = Path(__file__).resolve().parents[2]


def test_installed_aiohttp_is_supported_and_has_the_fenced_internals() -> None:
    check_aiohttp()  # raises AiohttpInternalsChanged naming every internal that moved


def test_supported_is_pyprojects_range_for_aiohttp() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"aiohttp{SUPPORTED}" in deps


def test_another_aiohttp_is_refused_with_both_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiohttp, "__version__", "3.15.0")
    with pytest.raises(AiohttpInternalsChanged, match=r"aiohttp 3\.15\.0 .*>=3\.14\.5,<3\.15"):
        check_aiohttp()


def upgrade_request(path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


class Echo(asyncio.Protocol):
    def __init__(self, transport: asyncio.Transport, pending: bytes) -> None:
        self.transport = transport
        transport.write(pending)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def test_bytes_after_the_upgrade_wait_in_message_tail_and_the_socket_can_be_taken() -> None:
    """After a 101 sent without a payload parser, aiohttp keeps what the client sent
    (here in the same packet as its request) in ``_message_tail``; ``take_socket``
    returns those bytes and aiohttp forgets the connection without closing it."""
    tails: list[bytes] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        headers, _protocol = websocket_handshake(request, ())
        response = web.StreamResponse(status=101, headers=headers)
        await response.prepare(request)
        tail: bytes = request.protocol._message_tail  # type: ignore[union-attr]
        tails.append(tail)
        transport = request.transport
        assert transport is not None
        pending = take_socket(request)
        transport.set_protocol(Echo(transport, pending))  # type: ignore[arg-type]
        return response

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        first = masked_text(b"first")
        writer.write(upgrade_request("/ws") + first)  # one write: one packet on loopback
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert await asyncio.wait_for(reader.readexactly(len(first)), 5) == first
        assert tails == [first]
        writer.write(b"later")  # aiohttp let go; the socket is ours and open
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"later"
        writer.close()
    finally:
        await runner.cleanup()


def frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete unmasked server frames' payloads in ``data``, and the rest."""
    out = []
    while len(data) >= 2:
        size, offset = data[1] & 0x7F, 2
        if size == 126:
            size, offset = struct.unpack(">H", data[2:4])[0], 4
        elif size == 127:
            size, offset = struct.unpack(">Q", data[2:10])[0], 10
        if len(data) < offset + size:
            break
        out.append(data[offset : offset + size])
        data = data[offset + size :]
    return out, data


async def test_a_chat_command_sent_with_the_handshake_is_answered(redis_url: str) -> None:
    """A client that sends its first command in the same packet as its upgrade request
    gets its reply: the hand-over passes aiohttp's unparsed bytes on."""
    async with running_node(redis_url) as node, aiohttp.ClientSession() as http:
        await create_room(http, node)
        reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
        writer.write(upgrade_request("/ws/r1") + masked_text(b'{"id":1,"cmd":"ping"}'))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        rest, replies = b"", []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not any(r.get("id") == 1 for r in replies) and loop.time() < deadline:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            assert chunk, "closed before the reply"
            payloads, rest = frames(rest + chunk)
            for payload in payloads:
                message = json.loads(payload)
                replies += message if isinstance(message, list) else [message]
        writer.close()
        assert any(r.get("id") == 1 for r in replies), replies
