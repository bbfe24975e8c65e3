"""A burst of commands leaves no more than a few idle Redis connections behind, on one
Redis (``IdleBoundedPool``) and on a Redis Cluster (``trim_idle``)."""

from __future__ import annotations

import asyncio

from livecart.redis_client import MAX_IDLE, AnyRedis, is_cluster, pool_connections, trim_idle


async def burst(redis: AnyRedis, n: int = 120) -> None:
    """``n`` commands at once, over keys of every slot range."""
    await asyncio.gather(*(redis.set(f"burst:{i}", i) for i in range(n)))


async def test_a_burst_leaves_at_most_max_idle_connections_per_node(any_redis: AnyRedis) -> None:
    await burst(any_redis)
    opened = pool_connections(any_redis)
    nodes = len(any_redis.get_nodes()) if is_cluster(any_redis) else 1
    assert opened["in_use"] == 0
    if is_cluster(any_redis):
        # redis-py's cluster nodes keep all that the burst opened, until trimmed.
        assert opened["idle"] > MAX_IDLE * nodes, opened
        closed = await trim_idle(any_redis)
        assert closed == opened["idle"] - pool_connections(any_redis)["idle"] > 0
    else:
        assert await trim_idle(any_redis) == 0  # the pool trimmed itself on release
    after = pool_connections(any_redis)
    assert after["in_use"] == 0 and after["idle"] <= MAX_IDLE * nodes, after
    # What is left still works, and a second burst opens what it needs again.
    assert await any_redis.get("burst:7") == b"7"
    await burst(any_redis)
    await trim_idle(any_redis)
    assert pool_connections(any_redis)["idle"] <= MAX_IDLE * nodes
