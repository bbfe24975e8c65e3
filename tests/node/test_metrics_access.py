"""``/metrics`` answers the operator only (``web.metrics_access``), on a real node.

A client on another machine is made by trusting the loopback proxy's
``X-Forwarded-For`` (``--trusted-proxies 127.0.0.1``), which is how the node learns a
client's address behind a proxy: by default that client gets 403 ``forbidden`` unless it
sends the admin token; ``--metrics-allow`` opens it to the client's network. Without
the header the client is this machine, which every scraper of the tests is.
"""

from __future__ import annotations

import asyncio

import aiohttp
import redis.asyncio as aioredis

from livecart.loadtest.runner import _metrics
from livecart.loadtest.target import Target
from livecart.redis_process import RedisProcess
from tests.hubclient import ADMIN, running_node

PROXY = ("127.0.0.1/32",)


async def status(
    http: aiohttp.ClientSession, url: str, client: str | None = None, token: str | None = None
) -> int:
    headers = {"X-Forwarded-For": client} if client else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.get(f"{url}/metrics", headers=headers) as resp:
        body = await resp.read()
        if resp.status == 403:
            assert b'"code": "forbidden"' in body and b"--metrics-allow" in body
        else:
            assert b"livecart_" in body  # the exposition itself
        return resp.status


async def test_metrics_refuse_a_remote_client_by_default(
    http: aiohttp.ClientSession, redis_server: RedisProcess, redis_client: aioredis.Redis
) -> None:
    async with running_node(redis_server.url, trusted_proxies=PROXY) as node:
        assert await status(http, node.url) == 200  # this machine
        assert await status(http, node.url, client="203.0.113.5") == 403
        assert await status(http, node.url, client="203.0.113.5", token="adm_wrong") == 403
        assert await status(http, node.url, client="203.0.113.5", token=ADMIN) == 200
        assert await status(http, node.url, client="2001:db8::5") == 403


async def test_metrics_allow_opens_them_to_a_network(
    http: aiohttp.ClientSession, redis_server: RedisProcess, redis_client: aioredis.Redis
) -> None:
    allow = ("203.0.113.0/24",)
    async with running_node(redis_server.url, trusted_proxies=PROXY, metrics_allow=allow) as node:
        assert await status(http, node.url, client="203.0.113.5") == 200
        assert await status(http, node.url, client="198.51.100.1") == 403
        assert await status(http, node.url) == 403  # the list replaces the default
        assert await status(http, node.url, token=ADMIN) == 200


async def test_the_load_tester_reads_the_counters_with_the_admin_token(
    redis_server: RedisProcess, redis_client: aioredis.Redis
) -> None:
    allow = ("203.0.113.0/24",)  # not this machine: only the token opens /metrics
    async with running_node(redis_server.url, metrics_allow=allow) as node:
        target = Target.parse(node.url)
        without, with_token = await asyncio.gather(
            asyncio.to_thread(_metrics, target, None), asyncio.to_thread(_metrics, target, ADMIN)
        )
    assert without is None
    assert with_token is not None and with_token  # the server's counters, read
