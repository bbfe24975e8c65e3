"""The redis-py internals livecart.redis_internals relies on, and what it works around,
against a real Redis and a real Redis Cluster with redis-py's own clients.

Each test fails when redis-py moves an internal or stops doing what a workaround is
for. Then do not loosen the test: drop or adapt the workaround in
livecart/redis_internals.py, and move SUPPORTED and pyproject.toml's range with it.
"""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from livecart.local_cluster import LocalRedisCluster
from livecart.redis_internals import (
    SUPPORTED,
    RedisInternalsChanged,
    check_redis,
    close_pubsub,
    command,
    drop_keys_option,
    forget_node_connection,
    idle_connections,
    never_sent,
    node_counts,
    node_idle,
    pool_counts,
    startup_addresses,
    torn_connection,
)
from livecart.redis_process import RedisProcess

ROOT = Path(__file__).resolve().parents[2]


def test_installed_redis_py_is_supported_and_has_the_fenced_internals() -> None:
    check_redis()  # raises RedisInternalsChanged naming every internal that moved


def test_supported_is_pyprojects_range_for_redis() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"redis{SUPPORTED}" in deps


def test_another_redis_py_is_refused_with_both_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis, "__version__", "8.2.0")
    with pytest.raises(RedisInternalsChanged, match=r"redis-py 8\.2\.0 .*redis >=8\.1,<8\.2"):
        check_redis()


async def test_a_pool_keeps_what_a_burst_opened_and_reuses_the_last_released(
    redis_server: RedisProcess,
) -> None:
    """Why IdleBoundedPool exists, and the list it trims."""
    pool = aioredis.BlockingConnectionPool.from_url(redis_server.url, max_connections=64)
    client = aioredis.Redis.from_pool(pool)
    try:
        await asyncio.gather(*(client.set(f"pool:{i}", i) for i in range(20)))
        assert pool_counts(pool) == (0, 20)  # redis-py closes none of them
        idle = idle_connections(pool)
        assert idle is pool._available_connections and len(idle) == 20
        last = idle[-1]
        taken = await pool.get_connection()
        assert taken is last  # reused from the end: index 0 is the coldest
        assert pool_counts(pool) == (1, 19)
        await pool.release(taken)
        assert idle[-1] is taken and pool_counts(pool) == (0, 20)
    finally:
        await client.aclose()


async def cluster(redis_cluster: LocalRedisCluster) -> aioredis.RedisCluster:
    redis_cluster.wait_healthy(30)
    client = aioredis.RedisCluster.from_url(redis_cluster.url)
    await client.initialize()
    return client


async def test_a_cluster_node_keeps_what_a_burst_opened_and_acquires_the_oldest(
    redis_cluster: LocalRedisCluster,
) -> None:
    """Why trim_idle exists on a cluster, and the deque and list it trims."""
    client = await cluster(redis_cluster)
    try:
        await asyncio.gather(*(client.set(f"node:{{a}}:{i}", i) for i in range(20)))
        node = client.get_node_from_key("node:{a}:0")
        assert node is not None
        free = node_idle(node)
        assert free is node._free and node_counts(node) == (0, len(free)) and len(free) > 4
        oldest = free[0]
        taken = node.acquire_connection()
        assert taken is oldest  # acquired from the left: the oldest first
        assert node_counts(node) == (1, len(free))
        node.release(taken)
        assert free[-1] is taken
        stale = free.popleft()
        forget_node_connection(node, stale)
        await stale.disconnect()
        assert stale not in node._connections and node_counts(node) == (0, len(free))
    finally:
        await client.aclose()


async def test_a_node_disconnect_tears_connections_in_use_at_their_first_write(
    redis_cluster: LocalRedisCluster,
) -> None:
    """redis-py 8.1 closes a node's connections in use too (CLUSTERDOWN, a dead node);
    one closed between its connect and its write fails with Python's AttributeError on
    ``writelines``, not redis-py's ConnectionError: torn_connection and never_sent."""
    client = await cluster(redis_cluster)
    try:
        node = client.get_node_from_key("torn:{a}")
        assert node is not None
        conn = node.acquire_connection()
        await conn.connect()
        await node.disconnect()
        assert not conn.is_connected  # in use, and closed all the same

        async def disconnected_meanwhile(*_args: Any, **_kwargs: Any) -> None:
            await node.disconnect()  # another task, while this one awaited

        conn.check_health = disconnected_meanwhile  # type: ignore[method-assign]
        with pytest.raises(RedisConnectionError) as caught, torn_connection():
            await conn.send_packed_command(b"*1\r\n$4\r\nPING\r\n")
        assert isinstance(caught.value.__cause__, AttributeError)
        assert "'writelines'" in str(caught.value.__cause__)
        assert never_sent(caught.value)
        node.release(conn)
    finally:
        await client.aclose()


async def test_cluster_transaction_callbacks_are_handed_keys(
    redis_cluster: LocalRedisCluster,
) -> None:
    """redis-py 8.1's cluster MULTI/EXEC passes ``keys=`` to reply callbacks that do not
    take it (SMEMBERS'): drop_keys_option."""
    client = await cluster(redis_cluster)
    try:
        await client.sadd("tx:{a}:s", "m")
        async with client.pipeline(transaction=True) as pipe:
            pipe.smembers("tx:{a}:s")
            with pytest.raises(TypeError, match="keys"):
                await pipe.execute()
        drop_keys_option(client)
        async with client.pipeline(transaction=True) as pipe:
            pipe.smembers("tx:{a}:s")
            assert await pipe.execute() == [{b"m"}]
    finally:
        await client.aclose()


async def test_startup_nodes_and_the_untyped_calls(
    redis_cluster: LocalRedisCluster, redis_server: RedisProcess
) -> None:
    client = await cluster(redis_cluster)
    try:
        known = startup_addresses(client)  # the URL's node, then those discovered
        assert known and known <= {(n.host, int(n.port)) for n in client.get_nodes()}
    finally:
        await client.aclose()
    plain = aioredis.Redis.from_url(redis_server.url)
    try:
        assert await command(plain, "PING") is True
        pubsub = plain.pubsub()
        await pubsub.subscribe("internals")
        await close_pubsub(pubsub)
        assert pubsub.connection is None
    finally:
        await plain.aclose()
