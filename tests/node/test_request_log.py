"""``web.request_log`` on a small real app: an exception no handler caught is logged
once with the request's id and room, answered with a JSON 500, and the id returned."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from livecart.web.log_format import ContextFilter, JsonFormatter
from livecart.web.request_log import AccessLogger, setup_request_log

HOST = "host_" + "Q1w2E3r4" * 4


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError(f"failed\nwhile holding {HOST}")


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter("t", 0))
    root = logging.getLogger()
    root.addHandler(handler)
    access = logging.getLogger("livecart.access.test")
    access.setLevel(logging.INFO)
    app = web.Application()
    app.router.add_get("/rooms/{room}/boom", boom)
    setup_request_log(app)
    runner = web.AppRunner(app, access_log_class=AccessLogger, access_log=access)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", stream
    finally:
        await runner.cleanup()
        root.removeHandler(handler)


async def test_an_unhandled_error_is_one_line_with_the_ids(
    served: tuple[str, io.StringIO],
) -> None:
    base, stream = served
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base}/rooms/demo/boom?token={HOST}", headers={"X-Request-Id": "r-1"}) as resp,
    ):
        assert resp.status == 500
        assert (await resp.json())["error"]["code"] == "internal"
        assert resp.headers["X-Request-Id"] == "r-1"
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    errors = [r for r in records if r["level"] == "ERROR"]
    assert len(errors) == 1, records
    assert errors[0]["request_id"] == "r-1" and errors[0]["room"] == "demo"
    assert "RuntimeError: failed\nwhile holding host_[redacted]" in errors[0]["exc"]
    access = [r for r in records if r["logger"] == "livecart.access.test"]
    assert [(a["path"], a["status"], a["request_id"]) for a in access] == [
        ("/rooms/demo/boom", 500, "r-1")
    ]
    assert HOST not in stream.getvalue()
