"""The peers comparison's python-socketio room and the Engine.IO client that loads it:
a real server process on the session's real Redis, real sockets."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.localserver import spawn_server
from bench.peers.compare import socketio_argv
from bench.peers.fanout import SOCKETIO, FanoutPlan, _open_eio
from livecart.loadtest.wsclient import EioViewer, ViewerStats
from livecart.redis_process import RedisProcess, free_port


@pytest.fixture(scope="module")
def socketio_port(redis_server: RedisProcess) -> Iterator[int]:
    if not redis_server.running:
        redis_server.start()
    port = free_port()
    argv = socketio_argv(port, redis_server.url)
    with (
        tempfile.TemporaryDirectory() as tmp,
        spawn_server(argv, f"http://127.0.0.1:{port}/healthz", Path(tmp) / "log"),
    ):
        yield port


async def test_socketio_room_broadcasts_chat_to_raw_engineio_clients(socketio_port: int) -> None:
    plan = FanoutPlan(SOCKETIO, "127.0.0.1", socketio_port, "room-a", 0, 1, 1)
    other = FanoutPlan(SOCKETIO, "127.0.0.1", socketio_port, "room-b", 0, 0, 0)
    sampled, light = ViewerStats(), ViewerStats()
    sample = await _open_eio(plan, "s", True, sampled)
    viewer = await _open_eio(plan, "v", False, light)
    sender = await _open_eio(plan, "x", False, light)
    elsewhere = await _open_eio(other, "y", False, light)
    clients: list[EioViewer] = [sample, viewer, sender, elsewhere]
    try:
        sample.measuring = True
        for i in range(5):
            assert sender.emit("chat", {"text": f"hello {i}"})
        for _ in range(100):
            if sampled.chat == 5 and viewer.messages == 5:
                break
            await asyncio.sleep(0.02)
        assert sampled.chat == 5 and len(sampled.latencies) == 5
        assert all(0 <= ms < 1000 for ms in sampled.latencies)
        assert viewer.messages == 5 and sender.messages == 5  # light: counted, not decoded
        assert elsewhere.messages == 0  # another room hears nothing
    finally:
        for c in clients:
            c.close()
        await asyncio.sleep(0.05)
