"""The multi-node layout from real processes: Debian's nginx running deploy/nginx.conf
(rendered with loopback upstreams), three ``livecart serve --workers 2`` nodes, Redis.

What is proved here, with a small protocol client (the browser test does the pages):
nginx passes WebSocket upgrades to every node; a host and a viewer on different nodes
see each other's chat; SIGKILL of the viewer's node makes its socket close, and the
viewer reconnects through nginx to a live node and resumes exactly (``recovered``, no
gap in ``seq``); the access log holds no query string (tokens ride in ``/ws`` URLs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from livecart.loadtest.layout import UPSTREAM_HEADER, Layout, layout

ROOM = "layout-show"
PROTOCOL = "livecart.v1.json"


@pytest.fixture(scope="module")
def lay() -> Iterator[Layout]:
    with layout(nodes=3, workers=2, upstream_header=True) as running:
        yield running


async def ws_join(
    http: aiohttp.ClientSession, lay: Layout, query: str, token: str | None = None
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any], str]:
    """Open /ws through nginx (as host with ``token``, offered as a subprotocol);
    return the socket, its first frame and its upstream."""
    protocols = (PROTOCOL, f"livecart.auth.{token}") if token else (PROTOCOL,)
    ws = await http.ws_connect(f"{lay.ws_url}/ws/{ROOM}?{query}", protocols=protocols)
    upstream = ws._response.headers.get(UPSTREAM_HEADER, "")
    first = json.loads(await ws.receive_str(timeout=10))
    return ws, first, upstream


async def events_until(
    ws: aiohttp.ClientWebSocketResponse, text: str, within: float = 10.0
) -> list[dict[str, Any]]:
    """Every sequenced event up to the chat line ``text``."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while True:
        frame = json.loads(await ws.receive_str(timeout=max(0.1, deadline - time.monotonic())))
        for ev in frame.get("events", []):
            seen.append(ev)
            if ev.get("type") == "chat" and ev.get("text") == text:
                return seen


async def test_healthz_through_nginx_reaches_every_node(lay: Layout) -> None:
    seen: dict[str, set[str]] = {}
    async with aiohttp.ClientSession() as http:
        for _ in range(30):
            async with http.get(f"{lay.url}/healthz") as resp:
                assert resp.status == 200
                body = await resp.json()
                node = lay.node_at(resp.headers[UPSTREAM_HEADER])
            # /healthz names the node nginx picked, the worker that answered, and that
            # process's id on the bus
            assert set(body) == {"ok", "node", "worker", "process"} and body["ok"] is True
            assert body["node"] == node.name and body["worker"] in (0, 1)
            assert re.fullmatch(r"[0-9a-f]{8}", body["process"])
            seen.setdefault(node.name, set()).add(body["process"])
            if len(seen) == 3 and all(len(ids) == 2 for ids in seen.values()):
                break
    assert sorted(seen) == ["node1", "node2", "node3"]
    every = [i for ids in seen.values() for i in ids]
    assert len(every) == len(set(every)), "a worker id is unique across the layout"


async def test_chat_across_nodes_and_resume_after_sigkill(lay: Layout) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{lay.url}/api/rooms",
            json={"id": ROOM, "title": "Layout show", "host": "Mia"},
            headers={"Authorization": f"Bearer {lay.admin}"},
        ) as resp:
            assert resp.status == 201, await resp.text()
            token = (await resp.json())["host_token"]
        host, first, host_up = await ws_join(http, lay, "name=Mia", token)
        assert first["you"]["role"] == "host"
        # The viewer lands on another node (round robin; bounded retries).
        for _ in range(6):
            viewer, snap, viewer_up = await ws_join(http, lay, "name=Ana")
            if lay.node_at(viewer_up) is not lay.node_at(host_up):
                break
            await viewer.close()
        victim = lay.node_at(viewer_up)
        assert victim is not lay.node_at(host_up)
        assert snap["t"] == "snapshot"
        vid_token = snap["you"]["token"]

        await host.send_json({"id": 1, "cmd": "chat", "text": "welcome"})
        events = await events_until(viewer, "welcome")
        last = events[-1]["seq"]

        lay.kill(victim)
        closed = await viewer.receive(timeout=10)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        for i in range(3):
            await host.send_json({"id": 2 + i, "cmd": "chat", "text": f"missed {i}"})
        await asyncio.sleep(0.3)

        back, frame, back_up = await ws_join(
            http, lay, f"vid={vid_token}&since={last}&epoch={snap['epoch']}"
        )
        assert lay.node_at(back_up) is not victim and lay.node_at(back_up).alive
        assert frame["t"] == "resume" and frame["recovered"] is True
        replayed = [ev["seq"] for ev in frame["events"]]
        assert replayed == list(range(last + 1, frame["seq"] + 1))
        texts = [ev.get("text") for ev in frame["events"] if ev.get("type") == "chat"]
        assert texts == ["missed 0", "missed 1", "missed 2"]
        for ws in (back, host):
            await ws.close()

    await asyncio.sleep(0.5)  # nginx writes a WebSocket's line when it closes
    log = lay.access_log.read_text()
    assert f"/ws/{ROOM}" in log
    assert "token=" not in log and "vid=" not in log and "?" not in log


def test_no_token_in_nginx_error_log_when_a_node_is_down() -> None:
    """nginx's error log writes the whole request line when a node is down; the host
    token is not in it because clients offer it as a subprotocol, never in the URL."""
    offer = {
        "Sec-WebSocket-Protocol": "livecart.v1.json, livecart.auth.host_SECRET",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    with layout(nodes=2, workers=1) as small:
        small.kill(small.nodes[0])
        for _ in range(2):
            with contextlib.suppress(OSError):
                small.get("/ws/some-room?vid=VIEWER", headers=offer)
        log = small.error_log.read_text()
        assert "connect() failed" in log, "a request went to the dead node"
        assert "host_SECRET" not in log, "the host token is in nginx's error log"
