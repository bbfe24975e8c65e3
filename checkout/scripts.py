"""The Lua scripts, loaded once per Redis client, and the mapping of Redis failures.

Each script in ``checkout/lua`` is loaded as ``prelude.lua`` (with the life-cycle table
and the bounds rendered in) followed by its own body (``livecart.lua_scripts``), and
registered with ``register_script``: calls go out as EVALSHA, and after a Redis restart
(empty script cache) the NOSCRIPT reply makes redis-py load the script and send it again.
``reserve.lua`` is not loaded on its own: it is the body of the function ``reserve`` that
``reserve_many.lua`` calls per request (buys are sent in batches, see
``checkout.reserve_batch``).

Guarantees of ``Scripts.run``:

- it returns the script's reply decoded from JSON, as a dict;
- a connection failure, a timeout, a server that is loading, read-only, refusing
  writes (``MISCONF``) or full (``OOM``: ``maxmemory`` under ``noeviction``; Redis
  refuses a script before its first write) raises ``CheckoutError("unavailable")``.
  The script may or may not have run: every script is idempotent, so the caller may
  send it again;
- any other Redis error is a bug and propagates as is;
- on a Redis Cluster, ``confirm`` (an order) answers only once a replica of the room's
  shard has it: the script, a write of the room's ``durable`` key and ``WAIT 1`` go to
  the shard's master on one connection (``WAIT`` counts the replicas that have every
  write of its connection), when that master has a replica that is not failed (its
  ``CLUSTER NODES``, looked at every few seconds). No replica within
  ``WAIT_TIMEOUT_MS`` raises ``unavailable``: the order is on the master, and the retry
  with the same key (the saga retries for a few seconds, and so may the buyer) waits
  again, or finds the order gone with the master and pays again under the same charge
  key. A shard with no replica has nothing
  to wait for. One Redis is made durable by its AOF instead (``appendfsync always`` in
  the embedded default).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.cluster import ClusterNode
from redis.commands.core import AsyncScript

from livecart.checkout import bounds, lifecycle
from livecart.checkout.errors import CheckoutError
from livecart.keyspace import RoomKeys
from livecart.lua_scripts import compose
from livecart.redis_client import REDIS_DOWN, AnyRedis, ClusterClient, is_full

NAMES = (
    "auction_bid",
    "auction_close",
    "auction_start",
    "audit",
    "confirm",
    "pay_begin",
    "refund_done",
    "release",
    "reserve_many",
    "sale",
    "snapshot",
    "stock",
    "sweep",
    "giveaway",
)

Arg = str | int | float

REPLICATED = frozenset({"confirm"})
"""Scripts whose reply waits for a replica on a Redis Cluster (see the module docstring)."""
WAIT_TIMEOUT_MS = 1000
DURABLE_MARK_MS = 60_000  # how long the room's ``durable`` key lives

# Scripts that call another script's body as a local function of the same name.
_FUNCTIONS = {"reserve_many": ("reserve",)}
# Scripts that share a library, put after the prelude as it is.
_LIBRARIES = {
    name: ("auction_lib",) for name in ("auction_bid", "auction_close", "auction_start", "giveaway")
}


@cache
def source(name: str) -> str:
    """The full text of script ``name`` as sent to Redis."""
    return compose(
        "livecart.checkout",
        name,
        rendered={
            "__TRANSITIONS__": lifecycle.lua_table(),
            "__BOUNDS__": bounds.lua_constants(),
        },
        libraries=_LIBRARIES.get(name, ()),
        functions=_FUNCTIONS.get(name, ()),
    )


@contextmanager
def redis_failures() -> Iterator[None]:
    """Turn "Redis cannot be reached or cannot write" into ``unavailable``."""
    try:
        yield
    except (rexc.ReadOnlyError, rexc.BusyLoadingError) as exc:
        raise CheckoutError("unavailable", "the datastore is not writable; retry") from exc
    except rexc.OutOfMemoryError as exc:  # maxmemory under noeviction: nothing was written
        raise CheckoutError("unavailable", "the datastore is full; retry later") from exc
    except (*REDIS_DOWN, ConnectionError, TimeoutError) as exc:
        raise CheckoutError("unavailable", "the datastore cannot be reached; retry") from exc
    except rexc.ResponseError as exc:
        if is_full(exc):  # maxmemory under noeviction: nothing was written
            raise CheckoutError("unavailable", "the datastore is full; retry later") from exc
        if str(exc).startswith(("MISCONF", "LOADING", "READONLY", "MASTERDOWN")):
            raise CheckoutError("unavailable", "the datastore is not writable; retry") from exc
        raise


class Scripts:
    """The checkout scripts bound to one Redis client."""

    def __init__(self, redis: AnyRedis) -> None:
        self._redis = redis
        self._replicas = _Replicas()
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(source(name)) for name in NAMES
        }

    async def run(
        self, name: str, room: str, now_ms: int, key_ttl_ms: int, *args: Arg
    ) -> dict[str, Any]:
        """Run script ``name`` for ``room``; see the module docstring."""
        keys, argv = [RoomKeys(room).prefix], [now_ms, key_ttl_ms, *args]
        with redis_failures():
            if name in REPLICATED and isinstance(self._redis, aioredis.RedisCluster):
                raw = await self._run_replicated(self._redis, name, room, now_ms, argv)
            else:
                raw = await self._scripts[name](keys=keys, args=argv)
        return _decode(name, raw)

    async def _run_replicated(
        self, cluster: aioredis.RedisCluster, name: str, room: str, now_ms: int, argv: list[Arg]
    ) -> Any:
        """The script, then ``WAIT 1``, on one connection to the master of the room's
        shard; ``unavailable`` when no replica confirms in time."""
        keys = RoomKeys(room)
        master = cluster.get_node_from_key(keys.prefix)
        if (
            not isinstance(cluster, ClusterClient)  # only livecart's client can (redis_client)
            or master is None
            or not await self._replicas.has_replica(cluster, master)
        ):
            return await self._scripts[name](keys=[keys.prefix], args=argv)
        raw, _, acked = await cluster.on_one_connection(
            keys.prefix,
            ("EVAL", source(name), 1, keys.prefix, *argv),
            # A replayed reply writes nothing: this write makes WAIT cover the order too.
            ("SET", keys.durable, now_ms, "PX", DURABLE_MARK_MS),
            ("WAIT", 1, WAIT_TIMEOUT_MS),
        )
        if int(acked) < 1:
            raise CheckoutError("unavailable", "the order is not on a replica yet; retry")
        return raw

    async def run_many(
        self, name: str, room: str, now_ms: int, key_ttl_ms: int, requests: Sequence[Sequence[Arg]]
    ) -> list[dict[str, Any]]:
        """Run batch script ``name`` (``reserve_many``) for ``room`` over ``requests``,
        each a sequence of the same length; returns one reply per request, in order.
        Failures as for ``run``: after ``unavailable`` the whole batch may or may not have
        run (every request is idempotent, so each may be sent again)."""
        width = len(requests[0])
        flat: list[Arg] = [now_ms, key_ttl_ms, width]
        for request in requests:
            if len(request) != width:
                raise ValueError("every request of a batch has the same fields")
            flat.extend(request)
        with redis_failures():
            raw = await self._scripts[name](keys=[RoomKeys(room).prefix], args=flat)
        if not isinstance(raw, list) or len(raw) != len(requests):
            raise TypeError(f"{name}.lua replied with {raw!r}")
        return [_decode(name, item) for item in raw]


class _Replicas:
    """Whether a cluster master has a replica that is not failed, from its own
    ``CLUSTER NODES`` (kept ``TTL`` seconds). Not from the client's slot map nor
    ``CLUSTER SLOTS``: Redis leaves a replica out of those until it has replicated a
    write, and a replica whose link is down right now must still be waited for."""

    TTL = 5.0

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, bool]] = {}

    async def has_replica(self, cluster: aioredis.RedisCluster, master: ClusterNode) -> bool:
        now = time.monotonic()
        seen = self._seen.get(master.name)
        if seen is not None and now - seen[0] < self.TTL:
            return seen[1]
        nodes = await cluster.execute_command("CLUSTER NODES", target_nodes=master)
        mine = next(n["node_id"] for n in nodes.values() if "myself" in n["flags"])
        found = any(
            n["master_id"] == mine and "fail" not in n["flags"].replace("fail?", "")
            for n in nodes.values()
        )
        self._seen[master.name] = (now, found)
        return found


def _decode(name: str, raw: object) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raw = raw.decode()
    if not isinstance(raw, str):
        raise TypeError(f"{name}.lua replied with {raw!r}")
    reply = json.loads(raw)
    if not isinstance(reply, dict):
        raise TypeError(f"{name}.lua replied with {reply!r}")
    return reply


def unwrap(reply: dict[str, Any], field: str) -> Any:
    """``reply["ok"][field]``, or raise the ``CheckoutError`` the reply carries."""
    error = reply.get("error")
    if error is not None:
        raise CheckoutError(error["code"], error["message"], error.get("retry_after"))
    return reply["ok"][field]
