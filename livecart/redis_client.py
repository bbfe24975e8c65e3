"""The Redis client every livecart process uses (the web app, benchmarks, tools).

``connect(url)`` looks at what ``url`` names: one Redis gives a ``redis.asyncio.Redis``,
any node of a Redis Cluster (``INFO cluster`` says ``cluster_enabled:1``) gives a
``redis.asyncio.RedisCluster`` that discovers the other nodes. Code that talks to Redis
takes ``AnyRedis`` and, where the two differ (pub/sub, replication waits), asks
``is_cluster``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import (
    AskError,
    ClusterError,
    OutOfMemoryError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

from livecart.redis_internals import (
    TornAsLostCluster,
    drop_keys_option,
    forget_node_connection,
    idle_connections,
    node_counts,
    node_idle,
    pool_counts,
    torn_connection,
)

AnyRedis = aioredis.Redis | aioredis.RedisCluster
"""One Redis or a Redis Cluster: what every Redis-using part is handed."""

REDIS_DOWN = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    # A Redis Cluster that cannot serve the slot right now: CLUSTERDOWN / MASTERDOWN,
    # TRYAGAIN, MOVED or ASK still bouncing after the client's redirections (a slot
    # being migrated), no node reachable, a slot not covered while a replica takes over.
    ClusterError,
    TryAgainError,
    AskError,
    RedisClusterException,
    # maxmemory reached under noeviction: Redis refuses the write (a script is refused
    # before its first write, so nothing is half done) until memory is freed.
    OutOfMemoryError,
)
"""What a Redis call raises when the server (or the cluster shard owning the slot)
cannot be reached or cannot serve it now, a full Redis included (catch these, nothing
wider)."""


def is_full(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis refusing a write at ``maxmemory`` (``noeviction``): a
    command's ``OutOfMemoryError``, or a script's error raised by its first write
    (Redis refuses only that one, so the script wrote nothing)."""
    return isinstance(exc, OutOfMemoryError) or (
        isinstance(exc, ResponseError) and "OOM command not allowed" in str(exc)
    )


def is_cluster(redis: AnyRedis) -> bool:
    """Whether ``redis`` is a cluster client."""
    return isinstance(redis, aioredis.RedisCluster)


MAX_IDLE = 4
"""Idle connections a pool keeps for good; those beyond are closed once idle for
``SPARE_GRACE`` seconds (at a release, or at the app's periodic ``trim_idle``)."""
SPARE_GRACE = 1.0
"""Seconds a connection beyond ``MAX_IDLE`` may stay idle. Under sustained concurrency
the spare connections are reused within milliseconds and stay open; closing them at
once, as a release beyond the bound used to, made a busy node open a new connection
(TCP connect, HELLO, CLIENT SETINFO) for most commands."""
IDLE_TIMEOUT = 5.0
"""Seconds after which an idle connection beyond the first is closed."""


def _driver_info() -> dict[str, Any]:
    """Connection keywords naming redis-py's version once: without them each new
    connection reads the package's metadata from disk (``importlib.metadata``) to send
    ``CLIENT SETINFO``, a millisecond of CPU per connection."""
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # redis-py before 7: no metadata read per connection
        return {}
    import redis

    return {"driver_info": DriverInfo(lib_version=str(redis.__version__))}


DRIVER_INFO = _driver_info()


class IdleBoundedPool(aioredis.BlockingConnectionPool):
    """``BlockingConnectionPool`` that gives back what a burst opened.

    redis-py's pools keep every connection they ever opened until they are closed: a
    burst of 50 commands at once leaves 50 connections (and their sockets and buffers)
    open for the life of the process. This pool keeps ``max_idle`` idle connections;
    those beyond are closed once idle for ``spare_grace`` seconds, and any beyond the
    first once idle for ``idle_timeout``, the coldest first (``trim``: at each release,
    and when ``trim_idle`` is called). ``max_connections`` and the blocking wait are
    unchanged; a connection in use is never touched."""

    def __init__(
        self,
        *,
        max_idle: int = MAX_IDLE,
        spare_grace: float = SPARE_GRACE,
        idle_timeout: float = IDLE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(**{**DRIVER_INFO, **kwargs})
        self.max_idle = max_idle
        self.spare_grace = spare_grace
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._idle_since: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    async def release(self, connection: Any) -> None:
        """Give a connection back and trim the idle connections beyond what the pool keeps."""
        await super().release(connection)
        self._idle_since[connection] = self._clock()
        await self.trim()

    async def trim(self, max_idle: int | None = None) -> int:
        """Close the idle connections due to go (see the class); return how many."""
        keep = self.max_idle if max_idle is None else max_idle
        now = self._clock()
        idle = idle_connections(self)  # coldest first: the pool reuses the last
        drop = []
        while idle:
            idle_for = now - self._idle_since.get(idle[0], now)
            spare = len(idle) > keep and idle_for > self.spare_grace
            if not (spare or (len(idle) > 1 and idle_for > self.idle_timeout)):
                break
            drop.append(idle.pop(0))
        for stale in drop:
            with contextlib.suppress(Exception):
                await stale.disconnect()
        return len(drop)


def redis_client(url: str) -> aioredis.Redis:
    """A client for one Redis that fails fast when Redis is away (the hub answers
    ``unavailable``) and retries once, so the first command after a Redis restart does
    not fail on a stale pooled connection. The pool blocks (up to 5 s) rather than
    failing when a burst of commands (a flash sale) wants more than its 64 connections,
    and closes what a burst opened once it is over (``IdleBoundedPool``)."""
    pool = IdleBoundedPool.from_url(
        url,
        max_connections=64,
        timeout=5,
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
    )
    return aioredis.Redis.from_pool(pool)  # closing the client closes its pool


class ClusterClient(TornAsLostCluster):
    """The cluster client: redis-py's, with its failures while the topology changes
    made to look like a lost connection (``redis_internals.TornAsLostCluster``)."""

    async def on_one_connection(self, key: str, *commands: tuple[EncodableT, ...]) -> list[Any]:
        """``commands`` in order on one connection to the master serving ``key``'s slot
        now, without retries or redirections (a ``WAIT`` after writes must run on the
        writes' connection; redis-py's cluster pipeline, retrying, sends a retried
        command wherever it likes). Raises the first error (MOVED and ASK included)."""
        node = self.get_node_from_key(key)
        if node is None:
            raise RedisConnectionError(f"no master serves {key!r}")
        clients: dict[str, aioredis.Redis] = self.__dict__.setdefault("_node_clients", {})
        client = clients.get(node.name)
        if client is None:
            kwargs = self.get_connection_kwargs()
            auth: dict[str, Any] = {k: kwargs[k] for k in ("username", "password") if kwargs.get(k)}
            pool = IdleBoundedPool(
                host=node.host,
                port=node.port,
                max_connections=64,
                timeout=5,
                socket_connect_timeout=1.0,
                socket_timeout=5.0,
                retry=Retry(NoBackoff(), 0),
                **auth,
            )
            client = clients[node.name] = aioredis.Redis.from_pool(pool)
        with torn_connection():
            async with client.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                return await pipe.execute()

    async def aclose(self) -> None:
        """Close the per-node clients this cluster client opened, then the cluster client
        itself."""
        for client in self.__dict__.pop("_node_clients", {}).values():
            await client.aclose()
        await super().aclose()


def cluster_client(url: str) -> aioredis.RedisCluster:
    """A client for the Redis Cluster one node of which ``url`` names.

    Bounded like ``redis_client``: MOVED and ASK are followed (a slot being resharded),
    and a command that meets a dead node, ``CLUSTERDOWN`` or an uncovered slot refreshes
    the slot map and is tried again 3 times over about a second, then raises (one of
    ``REDIS_DOWN``): a replica takes over after the cluster's ``cluster-node-timeout``,
    and the caller's retry with the same idempotency key lands on it."""
    client = ClusterClient.from_url(
        url,
        **DRIVER_INFO,
        max_connections=256,  # per node; more raises MaxConnectionsError (REDIS_DOWN)
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        retry=Retry(ExponentialBackoff(cap=0.4, base=0.1), 3),
    )
    drop_keys_option(client)  # redis-py 8.1's cluster MULTI/EXEC passes them keys=
    return client


async def detect_cluster(url: str, timeout: float = 5.0) -> bool:
    """Whether ``url`` names a node of a Redis Cluster (``INFO cluster``), asked on one
    plain connection; retried for up to ``timeout`` seconds while the server cannot be
    reached, then the error is raised."""
    deadline = time.monotonic() + timeout
    while True:
        probe = aioredis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
        try:
            info = await probe.info("cluster")
            return str(info.get("cluster_enabled", 0)) == "1"
        except (RedisConnectionError, RedisTimeoutError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        finally:
            await probe.aclose()


def pool_connections(redis: AnyRedis) -> dict[str, int]:
    """The command connections ``redis`` holds open now: ``{"in_use", "idle"}`` (on a
    cluster, summed over its nodes). Pub/sub connections are not counted here."""
    if isinstance(redis, aioredis.RedisCluster):
        in_use = idle = 0
        for node in redis.get_nodes():
            node_in_use, node_free = node_counts(node)
            idle += node_free
            in_use += node_in_use
        return {"in_use": in_use, "idle": idle}
    in_use, idle = pool_counts(redis.connection_pool)
    return {"in_use": in_use, "idle": idle}


async def trim_idle(redis: AnyRedis, max_idle: int = MAX_IDLE) -> int:
    """Close the idle connections a burst left behind; return how many were closed.

    On one Redis, the pool's own rule (``IdleBoundedPool.trim``: spares idle for
    ``SPARE_GRACE``, extras idle for ``IDLE_TIMEOUT``), for a pool that went silent
    after a burst and so has no release to trim at. On a cluster, each node's idle
    connections beyond ``max_idle`` (those released longest ago first): redis-py's
    cluster nodes keep every connection they open (up to 256 each) for the life of the
    client. Call this now and then (the app does, every few seconds). A connection in
    use is never touched."""
    if not isinstance(redis, aioredis.RedisCluster):
        pool = redis.connection_pool
        return await pool.trim(max_idle) if isinstance(pool, IdleBoundedPool) else 0
    closed = 0
    for node in redis.get_nodes():
        free = node_idle(node)  # released connections, the oldest first
        while len(free) > max_idle:
            stale = free.popleft()
            forget_node_connection(node, stale)
            with contextlib.suppress(Exception):
                await stale.disconnect()
            closed += 1
    return closed


async def connect(url: str) -> AnyRedis:
    """The client for ``url``: a cluster client when it names a Redis Cluster node
    (its slot map already loaded), else ``redis_client(url)``.

    A cluster client left to load its slot map at its first command does it while the
    other commands of that first burst are in flight, and redis-py 8.1 then marks and
    closes their connections under them (``Connection closed by server``, then a
    torn connection): loading it here, before anything else runs, avoids that."""
    if await detect_cluster(url):
        client = cluster_client(url)
        try:
            await client.initialize()
        except BaseException:
            await client.aclose()
            raise
        return client
    return redis_client(url)
