"""The one place that reaches into redis-py's internals (redis-py ``SUPPORTED``).

Everything else (``livecart.redis_client``, ``livecart.pubsub``, the parts) uses
redis-py's public API and this module. What we touch, and why:

- **Idle connections of a pool** (``ConnectionPool._available_connections``, a list the
  pool reuses from the end, so index 0 is the coldest; ``_in_use_connections``):
  redis-py keeps every connection a burst opened until the pool closes;
  ``redis_client.IdleBoundedPool`` closes them (``idle_connections``), and
  ``pool_connections`` counts them for /metrics (``pool_counts``).
- **Connections of a cluster node** (``ClusterNode._free``, a deque acquired from the
  left and released to the right, so the oldest first; ``_connections``, all of them):
  the same, per node (``node_idle``, ``node_counts``, ``forget_node_connection``).
- **Connections torn under a command** (redis-py 8.1): on ``CLUSTERDOWN`` or a dead node
  the cluster client closes every connection of the node, in use or not
  (``ClusterNode.disconnect``); a command of another task in flight on one then fails
  with Python's own error on the missing stream (``'NoneType' object has no attribute
  'writelines'``, written by ``Connection.send_packed_command``), not redis-py's
  ``ConnectionError``. ``torn_connection`` says it is a lost connection;
  ``never_sent`` tells one torn at its first write (nothing reached Redis) by that text.
  ``TornAsLostCluster`` applies both to every command and pipeline of a cluster client,
  through ``ClusterPipeline`` (a subclass of ours, made where ``RedisCluster.pipeline``
  makes redis-py's).
- **Cluster MULTI/EXEC reply callbacks** (redis-py 8.1): they are handed the command's
  ``keys=`` option, which SMEMBERS' (and others') do not take: ``drop_keys_option``.
- **The cluster's startup nodes** (``RedisCluster.nodes_manager.startup_nodes``), where
  ``livecart.pubsub`` asks for the slot map on a connection of its own:
  ``startup_addresses``.
- **Calls redis-py 8.1 leaves untyped** (``execute_command``, ``PubSub.aclose``), whose
  ``type: ignore`` broke when 8.2 typed them: ``command``, ``sync_command`` and
  ``close_pubsub``.

``check_redis`` refuses a redis-py outside ``SUPPORTED`` or whose internals are not
these (it runs when the app starts, ``web.app.create_app``).
``tests/redis/test_redis_internals.py`` checks each workaround against a real Redis and
a real Redis Cluster, and fails when redis-py stops doing what it works around: then
remove the workaround rather than loosen the test, and move ``SUPPORTED`` (and
pyproject.toml's range) with it.
"""

from __future__ import annotations

import collections
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, NodesManager
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.typing import EncodableT

from livecart.library_versions import in_range

SUPPORTED = ">=8.1,<8.2"
"""The redis-py releases this module was written for and tested with (pyproject.toml's
range for ``redis``; a test keeps the two the same)."""


class RedisInternalsChanged(RuntimeError):
    """The installed redis-py is not one whose internals this module knows."""


def check_redis() -> None:
    """Raise ``RedisInternalsChanged`` unless the installed redis-py is in ``SUPPORTED``
    and has every internal this module touches (no I/O: a pool and a node are made,
    never connected)."""
    installed = str(redis.__version__)
    if not in_range(installed, SUPPORTED):
        raise RedisInternalsChanged(
            f"redis-py {installed} is installed; livecart supports redis {SUPPORTED} "
            "(livecart/redis_internals.py reaches into its internals): install a "
            "supported release (make install), or adapt that module and its tests"
        )
    problems: list[str] = []
    pool = aioredis.BlockingConnectionPool()
    if not isinstance(getattr(pool, "_available_connections", None), list):
        problems.append("ConnectionPool._available_connections is no longer a list")
    if not hasattr(getattr(pool, "_in_use_connections", None), "__len__"):
        problems.append("ConnectionPool._in_use_connections is gone")
    # a method's source, never a class's: for a class inspect parses the whole module
    # (ast), which CPython 3.11 can fail with a SystemError when a GC runs a finalizer
    # that warns in the middle of it
    reuse = inspect.getsource(ConnectionPool.get_available_connection)
    if "self._available_connections.pop()" not in reuse:
        problems.append("ConnectionPool no longer reuses its last released connection")
    node = ClusterNode("127.0.0.1", 6379)
    if not isinstance(getattr(node, "_free", None), collections.deque):
        problems.append("ClusterNode._free is no longer a deque")
    if not isinstance(getattr(node, "_connections", None), list):
        problems.append("ClusterNode._connections is no longer a list")
    if "self._free.popleft()" not in inspect.getsource(ClusterNode.acquire_connection):
        problems.append("ClusterNode no longer acquires its oldest free connection")
    send = inspect.getsource(AbstractConnection.send_packed_command)
    if "self._writer.writelines(" not in send:
        problems.append("Connection.send_packed_command no longer writes with writelines")
    if "return ClusterPipeline(self, transaction)" not in inspect.getsource(
        aioredis.RedisCluster.pipeline
    ):
        problems.append("RedisCluster.pipeline no longer makes ClusterPipeline(self, transaction)")
    execute = list(inspect.signature(ClusterPipeline.execute).parameters)
    if execute != ["self", "raise_on_error", "allow_redirections"]:
        problems.append(f"ClusterPipeline.execute takes {execute}")
    if "self.nodes_manager = NodesManager(" not in inspect.getsource(
        aioredis.RedisCluster.__init__
    ) or "self.startup_nodes" not in inspect.getsource(NodesManager.__init__):
        problems.append("RedisCluster.nodes_manager.startup_nodes is gone")
    if problems:
        raise RedisInternalsChanged(
            f"redis-py {installed}: " + "; ".join(problems) + " (see livecart/redis_internals.py)"
        )


# Pools: idle and in-use connections -------------------------------------------------


def idle_connections(pool: ConnectionPool) -> list[Any]:
    """The pool's idle connections, the coldest first (the pool reuses the last); the
    list itself: a connection popped from it is no longer the pool's."""
    return pool._available_connections


def pool_counts(pool: ConnectionPool) -> tuple[int, int]:
    """``(in use, idle)`` connections of one Redis's pool."""
    return len(pool._in_use_connections), len(pool._available_connections)


def node_idle(node: ClusterNode) -> collections.deque[Any]:
    """A cluster node's released connections, the oldest first (acquired from the left);
    the deque itself."""
    return node._free


def node_counts(node: ClusterNode) -> tuple[int, int]:
    """``(in use, idle)`` connections of one cluster node."""
    free = len(node._free)
    return len(node._connections) - free, free


def forget_node_connection(node: ClusterNode, connection: Any) -> None:
    """Drop ``connection`` (already taken from ``node_idle``) from the node's list."""
    if connection in node._connections:
        node._connections.remove(connection)


# Cluster connections torn under a command (redis-py 8.1) ---------------------------


@contextmanager
def torn_connection() -> Iterator[None]:
    """Turn the error of a command whose connection the cluster client closed under it
    (``'NoneType' object has no attribute ...``) into a ``ConnectionError``, so that it
    ends as ``unavailable`` and is retried like a lost connection."""
    try:
        yield
    except (AttributeError, TypeError) as exc:
        if "NoneType" not in str(exc):
            raise
        raise RedisConnectionError(f"connection closed under the command: {exc}") from exc


UNSENT_RETRIES = 2
"""Times a cluster command is sent again when its connection was closed under it
before any byte of it was written (so Redis cannot have run it)."""


def never_sent(exc: BaseException) -> bool:
    """Whether ``exc`` (from ``torn_connection``) is a torn connection met at the
    command's first write: the stream was gone at ``writelines``, so nothing of the
    command reached Redis."""
    cause = exc.__cause__
    return isinstance(cause, AttributeError) and "'writelines'" in str(cause)


class TornAsLostCluster(aioredis.RedisCluster):
    """``RedisCluster`` whose failures while the topology changes all look like a lost
    connection (``torn_connection``); a command torn before it was written is sent
    again (``UNSENT_RETRIES``), as nothing of it ran."""

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        """Run a command; a torn connection reads as a lost one, and a command torn before
        any byte of it was written is sent again (at most ``UNSENT_RETRIES`` times)."""
        for attempt in range(UNSENT_RETRIES + 1):
            try:
                with torn_connection():
                    return await super().execute_command(*args, **kwargs)
            except RedisConnectionError as exc:
                if attempt == UNSENT_RETRIES or not never_sent(exc):
                    raise
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        """A pipeline whose torn connections read as lost ones, like the cluster's commands."""
        if shard_hint:  # as RedisCluster.pipeline does
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return _TornAsLostPipeline(self, transaction)  # type: ignore[abstract]


class _TornAsLostPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        with torn_connection():
            return await super().execute(raise_on_error, allow_redirections)


# Cluster MULTI/EXEC reply callbacks (redis-py 8.1) ---------------------------------


def drop_keys_option(client: aioredis.RedisCluster) -> None:
    """Make ``client``'s reply callbacks ignore the ``keys=`` option its MULTI/EXEC
    hands them, as the single-node client does."""
    callbacks = client.response_callbacks
    for name, callback in list(callbacks.items()):
        callbacks[name] = partial(_without_keys, callback)


def _without_keys(callback: Callable[..., Any], response: Any, **options: Any) -> Any:
    options.pop("keys", None)
    return callback(response, **options)


# Startup nodes and untyped calls ----------------------------------------------------


def startup_addresses(cluster: aioredis.RedisCluster) -> set[tuple[str, int]]:
    """``(host, port)`` of the nodes the client was started with."""
    return {(n.host, int(n.port)) for n in cluster.nodes_manager.startup_nodes.values()}


async def command(client: aioredis.Redis, *args: EncodableT) -> Any:
    """``client.execute_command(*args)`` (untyped in redis-py 8.1, typed in 8.2)."""
    return await cast(Any, client).execute_command(*args)


def sync_command(client: redis.Redis, *args: EncodableT) -> Any:
    """The blocking client's ``execute_command(*args)`` (untyped in 8.1, typed in 8.2)."""
    return cast(Any, client).execute_command(*args)


async def close_pubsub(pubsub: PubSub) -> None:
    """``pubsub.aclose()`` (untyped in redis-py 8.1, typed in 8.2)."""
    await cast(Any, pubsub).aclose()
