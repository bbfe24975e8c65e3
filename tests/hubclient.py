"""Test helpers: livecart nodes on random localhost ports and a small protocol client.

Nothing here imitates a part of the system: nodes are the real aiohttp app on a real
socket, clients speak the documented protocol over real WebSockets.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgpack
from aiohttp import web

from livecart.chat.codec import auth_protocol
from livecart.web.app import create_app, runner_options
from livecart.web.config import Config
from livecart.web.keys import ADMIN_TOKEN, HUB

ADMIN = "adm_test_token"


@dataclass
class Node:
    runner: web.AppRunner
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def app(self) -> web.Application:
        return self.runner.app


@asynccontextmanager
async def running_node(redis_url: str, node_id: str = "", **overrides: Any) -> AsyncIterator[Node]:
    """A node on a random port; ``overrides`` set ``Config`` fields (e.g. ``ice_hosts``).

    Every test client connects from 127.0.0.1, so the per-address cap on unpaid holds is
    off unless a test sets ``holds_per_address``."""
    config = Config(redis_url=redis_url, admin_token=ADMIN, node_id=node_id or None, demo=False)
    # Every client of a test comes from 127.0.0.1: no per-address socket or hold cap
    # unless a test sets one (tests/node/test_connections.py, test_buyers.py).
    config.max_sockets_per_address = 0
    config.holds_per_address = 0
    for name, value in overrides.items():
        if not hasattr(config, name):
            raise TypeError(f"Config has no field {name!r}")
        setattr(config, name, value)
    app = create_app(config)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, **runner_options(config))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    assert app[ADMIN_TOKEN] == ADMIN and app[HUB] is not None
    try:
        yield Node(runner, port)
    finally:
        await runner.cleanup()


async def create_room(http: aiohttp.ClientSession, node: Node, room: str = "r1") -> str:
    """Create a room through the admin API; return its host token."""
    async with http.post(
        f"{node.url}/api/rooms",
        json={"id": room, "title": "Test show", "host": "Mia"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    ) as resp:
        assert resp.status == 201, await resp.text()
        token: str = (await resp.json())["host_token"]
        return token


_ids = itertools.count(1)


@dataclass
class Client:
    ws: aiohttp.ClientWebSocketResponse
    fmt: str
    first: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    live: dict[str, Any] = field(default_factory=dict)
    replies: dict[Any, dict[str, Any]] = field(default_factory=dict)
    frames: list[dict[str, Any]] = field(default_factory=list)
    server_close_code: int | None = None

    @property
    def seq(self) -> int:
        return self.events[-1]["seq"] if self.events else int(self.first.get("seq", 0))

    async def send(self, obj: dict[str, Any]) -> None:
        if self.fmt == "livecart.v1.msgpack":
            await self.ws.send_bytes(msgpack.packb(obj))
        else:
            await self.ws.send_str(json.dumps(obj))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            frame: dict[str, Any] = json.loads(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            frame = msgpack.unpackb(msg.data)
        else:
            if msg.type == aiohttp.WSMsgType.CLOSE:
                # the code the server's close frame carried: aiohttp reports 1006 in
                # ws.close_code when its own reply cannot be written any more
                self.server_close_code = int(msg.data)
            raise ConnectionError(f"socket {msg.type.name}: {self.ws.close_code}")
        self.frames.append(frame)
        if frame["t"] == "batch":
            self.events += frame["events"]
            self.live.update(frame.get("live", {}))
        elif frame["t"] == "reply":
            self.replies[frame["id"]] = frame
        return frame

    async def command(self, cmd: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
        cid = next(_ids)
        await self.send({"id": cid, "cmd": cmd, **args})
        deadline = time.monotonic() + timeout
        while cid not in self.replies:
            await self.recv(max(0.01, deadline - time.monotonic()))
        return self.replies.pop(cid)

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        """Read frames until ``predicate(self)`` holds."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("condition not met")
            await self.recv(remaining)

    def chat_texts(self) -> list[str]:
        return [e["text"] for e in self.events if e["type"] == "chat"]


async def connect(
    http: aiohttp.ClientSession,
    node: Node,
    room: str = "r1",
    *,
    name: str = "viewer",
    fmt: str = "livecart.v1.json",
    **query: Any,
) -> Client:
    token = query.pop("token", None)  # the host token: a subprotocol, never in the URL
    protocols = (fmt, auth_protocol(token)) if token else (fmt,)
    params = {"name": name, **{k: str(v) for k, v in query.items() if v is not None}}
    ws = await http.ws_connect(f"{node.url}/ws/{room}", protocols=protocols, params=params)
    client = Client(ws, fmt, {})
    client.first = await client.recv()
    return client


async def raw_upgrade(
    port: int, path: str = "/ws/r1", rcvbuf: int | None = None, limit: int = 64 * 1024
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket opened by hand on ``127.0.0.1:port`` (the 101 read and checked): the
    raw streams, for tests that send malformed frames, never answer pings or stop
    reading. ``rcvbuf``: the socket's receive buffer (a small one makes a slow reader)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=limit)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer
