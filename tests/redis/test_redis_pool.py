"""A burst of commands leaves no more than a few idle Redis connections behind, on one
Redis (``IdleBoundedPool``) and on a Redis Cluster (``trim_idle``)."""

from __future__ import annotations

import asyncio

from livecart.redis_client import (
    MAX_IDLE,
    SPARE_GRACE,
    AnyRedis,
    is_cluster,
    pool_connections,
    redis_client,
    trim_idle,
)
from livecart.redis_process import RedisProcess


async def burst(redis: AnyRedis, n: int = 120) -> None:
    """``n`` commands at once, over keys of every slot range."""
    await asyncio.gather(*(redis.set(f"burst:{i}", i) for i in range(n)))


async def test_a_burst_leaves_at_most_max_idle_connections_per_node(any_redis: AnyRedis) -> None:
    await burst(any_redis)
    opened = pool_connections(any_redis)
    nodes = len(any_redis.get_nodes()) if is_cluster(any_redis) else 1
    assert opened["in_use"] == 0
    # Right after the burst its connections are still there (a spare is kept for
    # SPARE_GRACE seconds on one Redis; a cluster's nodes keep all until trimmed).
    assert opened["idle"] > MAX_IDLE * nodes, opened
    if not is_cluster(any_redis):
        await asyncio.sleep(SPARE_GRACE + 0.2)
    closed = await trim_idle(any_redis)
    assert closed == opened["idle"] - pool_connections(any_redis)["idle"] > 0
    after = pool_connections(any_redis)
    assert after["in_use"] == 0 and after["idle"] <= MAX_IDLE * nodes, after
    # What is left still works, and a second burst opens what it needs again.
    assert await any_redis.get("burst:7") == b"7"
    await burst(any_redis)
    if not is_cluster(any_redis):
        await asyncio.sleep(SPARE_GRACE + 0.2)
    await trim_idle(any_redis)
    assert pool_connections(any_redis)["idle"] <= MAX_IDLE * nodes


async def test_repeated_bursts_reuse_connections_instead_of_reopening(
    redis_server: RedisProcess,
) -> None:
    """Bursts of 16 commands every 10 ms for a second (a busy node: the commands read
    while a tick wrote to its sockets go out together): the pool keeps the connections
    beyond MAX_IDLE that the next burst needs instead of closing them at release and
    opening new ones (TCP connect, HELLO, CLIENT SETINFO) for the next burst."""
    client = redis_client(redis_server.url)
    try:
        opened = [0]
        pool = client.connection_pool
        make = pool.make_connection

        def counting() -> object:
            opened[0] += 1
            return make()

        pool.make_connection = counting  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        end = loop.time() + 1.0
        bursts = 0
        while loop.time() < end:
            await asyncio.gather(*(client.incr(f"bursts:{k}") for k in range(16)))
            bursts += 1
            await asyncio.sleep(0.01)
        assert bursts > 20
        assert opened[0] <= 16, (opened[0], bursts)  # one per command of a burst
    finally:
        await client.aclose()


def test_only_a_command_torn_before_its_first_write_counts_asnever_sent() -> None:
    """A cluster command is sent again only when its stream was gone at the first
    write; one torn while its reply was read may have run, and is not."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from livecart.redis_internals import never_sent

    def torn(message: str) -> RedisConnectionError:
        exc = RedisConnectionError("connection closed under the command")
        exc.__cause__ = AttributeError(message)
        return exc

    assert never_sent(torn("'NoneType' object has no attribute 'writelines'"))
    assert not never_sent(torn("'NoneType' object has no attribute 'read'"))
    assert not never_sent(RedisConnectionError("Connection closed by server."))
