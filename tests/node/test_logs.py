"""``livecart serve --log-format json`` as an operator runs it: a real subprocess (two
workers) whose stderr is read line by line while the test uses the server with tokens
in headers, in query strings and in a message that the server logs with its traceback.

Every stderr line must be one JSON object with the node and the worker; access lines
carry the request id the response returned; room lines carry the room; no token, no
WHIP session id and no ``Authorization`` credential appears anywhere on stderr. (The
start-up banner, on stdout, is where an operator reads the admin token: not a log.)
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from livecart.keyspace import room_channel
from livecart.redis_process import RedisProcess, free_port

NODE = "log-node"
ROOM = "logs"
STARTUP = 60.0


async def until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_json_logs_carry_ids_and_never_a_token(
    tmp_path: Path, redis_server: RedisProcess, redis_client: aioredis.Redis
) -> None:
    admin = "opaque-admin-" + secrets.token_hex(8)  # a configured token has no shape
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "REDIS_URL": redis_server.url}
    argv = ["serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--data-dir", str(tmp_path / "data"), "--node-name", NODE, "--no-demo"]
    argv += ["--admin-token", admin, "--log-format", "json"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "livecart",
        *argv,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    assert proc.stderr is not None
    stderr = proc.stderr
    lines: list[str] = []

    async def read() -> None:
        while line := await stderr.readline():
            lines.append(line.decode("utf-8"))

    reader = asyncio.create_task(read())
    forbidden = [admin, "wrong-token-123456", "s3ss10n-id-42"]
    try:
        async with aiohttp.ClientSession() as http:

            async def up() -> bool:
                assert proc.returncode is None, "serve exited:\n" + "".join(lines)
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await until(up, STARTUP)
            async with http.post(
                f"{base}/api/rooms",
                json={"id": ROOM, "title": "Logs", "host": "Mia"},
                headers={"Authorization": f"Bearer {admin}", "X-Request-Id": "lb-req.1"},
            ) as resp:
                assert resp.status == 201, await resp.text()
                assert resp.headers["X-Request-Id"] == "lb-req.1"
                host = (await resp.json())["host_token"]
            forbidden.append(host)
            async with http.post(
                f"{base}/api/rooms",
                json={"title": "x", "host": "y"},
                headers={"Authorization": "Bearer wrong-token-123456"},
            ) as resp:
                assert resp.status == 401
            async with http.get(
                f"{base}/api/rooms/{ROOM}/figures?token={host}",
                headers={"Authorization": f"Bearer {host}", "X-Request-Id": "x" * 100},
            ) as resp:
                assert resp.status == 200, await resp.text()
                made = resp.headers["X-Request-Id"]
                assert made != "x" * 100 and len(made) == 16
            async with http.delete(
                f"{base}/whip/{ROOM}/s3ss10n-id-42", headers={"Authorization": f"Bearer {host}"}
            ) as resp:
                assert resp.status == 404
            async with http.ws_connect(
                f"{base}/ws/{ROOM}",
                protocols=("livecart.v1.json", f"livecart.auth.{host}"),
                params={"name": "Mia"},
            ) as ws:
                first = json.loads((await ws.receive(timeout=10)).data)
                assert first["t"] in ("hello", "snapshot", "batch", "welcome"), first
                # the error path: a message the room's subscriber cannot read, logged
                # with its traceback and its first bytes, which hold the host token
                bad = b"E{not json " + host.encode()

                async def logged() -> bool:
                    await redis_client.publish(room_channel(ROOM), bad)
                    return any("bad message on room" in line for line in lines)

                await until(logged)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        await reader

    output = "".join(lines)
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(r, dict) for r in records)
    for r in records:
        assert r["node"] == NODE and r["worker"] in (0, 1), r
        assert {"ts", "level", "logger", "msg"} <= r.keys() and r["ts"].endswith("Z"), r
    for secret in forbidden:
        assert secret not in output, f"{secret!r} leaked into the logs"
    assert "Bearer" not in output

    access = [r for r in records if r["logger"] == "livecart.access"]
    assert all(r.get("request_id") and "?" not in r["path"] for r in access), access
    by_path = {(r["method"], r["path"], r["status"]): r for r in access}
    assert by_path["POST", "/api/rooms", 201]["request_id"] == "lb-req.1"
    assert ("POST", "/api/rooms", 401) in by_path
    assert by_path["GET", f"/api/rooms/{ROOM}/figures", 200]["room"] == ROOM
    assert by_path["GET", f"/ws/{ROOM}", 101]["room"] == ROOM
    assert ("DELETE", f"/whip/{ROOM}/[redacted]", 404) in by_path

    error = next(r for r in records if "bad message on room" in r["msg"])
    assert error["level"] == "ERROR" and error["room"] == ROOM
    assert error["exc"].startswith("Traceback") and "\n" in error["exc"]
    assert "[redacted]" in error["msg"]
