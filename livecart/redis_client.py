"""The Redis client every livecart process uses (the web app, benchmarks, tools)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
"""What a Redis call raises when the server cannot be reached (catch these, nothing wider)."""


def redis_client(url: str) -> aioredis.Redis:
    """A client that fails fast when Redis is away (the hub answers ``unavailable``)
    and retries once, so the first command after a Redis restart does not fail on a
    stale pooled connection. The pool blocks (up to 5 s) rather than failing when a
    burst of commands (a flash sale) wants more than its 64 connections."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=5,
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
    )
    return aioredis.Redis.from_pool(pool)  # closing the client closes its pool
