"""A process's Redis pub/sub connection, owned by a single task (any part may run one).

Contracts:
- ``subscribe(channel)`` returns once Redis has confirmed the subscription, so state
  loaded after it cannot miss an event published after the load.
- Messages reach ``on_message(channel, data)`` in the order Redis sent them (per
  channel; on a cluster, channels of different shards arrive on different connections).
- When the connection breaks, the loop reconnects with backoff (0.1 s doubling to 5 s),
  subscribes every channel again, waits for the confirmations and then calls
  ``on_reconnect()``: messages published while it was away are lost here, and the hub
  fills the gap from the rooms' histories.
- ``on_message`` must not raise; it is called synchronously and must not block.

On one Redis: one connection, classic ``SUBSCRIBE`` (the publishers ``PUBLISH``). On a
Redis Cluster every channel is a shard channel: ``SSUBSCRIBE`` on the master owning the
channel's slot, one connection per master that owns a wanted channel (the publishers
``SPUBLISH``, which reaches only that shard). A room's channel carries the room's hash
tag, so it lives with the room's keys; the node's home channel (``lc:node:<id>``) lives
on whichever shard its name hashes to and is reached the same way. Any break on any of
those connections, a slot moving away (the server's own ``sunsubscribe``) or a
``MOVED`` reply rebuilds them all from a fresh slot map, then ``on_reconnect()``.

redis-py's ``ClusterPubSub`` is not used: its ``get_sharded_message`` polls each node's
connection in turn with the whole timeout, and it reconnects and resubscribes behind the
caller's back, which would lose messages without an ``on_reconnect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot

from livecart.cancellation import stop_if_cancelled
from livecart.redis_client import REDIS_DOWN, AnyRedis
from livecart.redis_internals import close_pubsub, command, startup_addresses

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT = 5.0
"""How long a (re)connection waits for its subscriptions to be confirmed."""


class Resubscribe(Exception):
    """The server dropped a wanted shard channel (its slot moved): subscribe again."""


def _client_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Connection settings for a pub/sub connection: the client's auth and TLS, no
    retries of its own (every break must reach ``Subscriber.run``) and no read timeout
    (a quiet channel is not a dead one)."""
    keep = {"username", "password", "credential_provider", "ssl", "client_name"}
    out = {k: v for k, v in kwargs.items() if k in keep and v is not None}
    out.update(socket_connect_timeout=1.0, socket_timeout=None, retry=Retry(NoBackoff(), 0))
    return out


class _Link:
    """One pub/sub connection: to the one Redis, or to one cluster master (sharded)."""

    def __init__(self, client: aioredis.Redis, sharded: bool, owner: Subscriber) -> None:
        self.client = client
        self.sharded = sharded
        self.pubsub = client.pubsub()
        self.owner = owner
        self.channels: set[str] = set()

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)
        if self.sharded:
            await self.pubsub.ssubscribe(channel)
        else:
            await self.pubsub.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        if self.sharded:
            await self.pubsub.sunsubscribe(channel)
        else:
            await self.pubsub.unsubscribe(channel)

    async def read(self) -> None:
        """Deliver messages until the connection breaks (raises)."""
        owner = self.owner
        while True:
            message = await self.pubsub.get_message(timeout=None)
            if message is None:
                continue
            kind = message["type"]
            if kind == "message" or kind == "smessage":
                owner.received += 1
                owner._on_message(message["channel"].decode(), message["data"])
            elif kind == "subscribe" or kind == "ssubscribe":
                owner._confirm(message["channel"].decode())
            elif kind == "sunsubscribe":
                channel = message["channel"].decode()
                if channel in self.channels:  # not ours: the slot left this master
                    raise Resubscribe(channel)

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # the connection may be gone already
            await close_pubsub(self.pubsub)
        with contextlib.suppress(Exception):
            await self.client.aclose()


class Subscriber:
    """Channels wanted by this process, kept subscribed across reconnects."""

    def __init__(
        self,
        redis: AnyRedis,
        home_channel: str,
        on_message: Callable[[str, bytes], None],
        on_reconnect: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self._redis = redis
        self._home = home_channel
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._wanted: set[str] = set()
        self._confirmed: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._requests: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._links: dict[str, _Link] = {}
        self._link_of: dict[str, _Link] = {}
        self._readers: dict[asyncio.Task[None], _Link] = {}
        self._shards: list[tuple[int, int, str, int]] = []
        self.connected = asyncio.Event()
        self.received = 0
        self.reconnects = 0
        """Connections made again after a loss (each one resyncs the listener)."""
        self.losses = 0
        """Connections lost or failed (Redis away, a reshard, a timeout)."""

    async def subscribe(self, channel: str, timeout: float = 5.0) -> None:
        """Subscribe and wait for Redis' confirmation (TimeoutError when Redis is away)."""
        if channel in self._confirmed and channel in self._wanted:
            return
        self._wanted.add(channel)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        self._requests.put_nowait(("subscribe", channel))
        await asyncio.wait_for(waiter, timeout)

    def unsubscribe(self, channel: str) -> None:
        """Stop hearing ``channel``: forgotten at once, unsubscribed on the connection soon
        after."""
        self._wanted.discard(channel)
        self._confirmed.discard(channel)
        self._requests.put_nowait(("unsubscribe", channel))

    def _confirm(self, channel: str) -> None:
        self._confirmed.add(channel)
        for waiter in self._waiters.pop(channel, []):
            if not waiter.done():
                waiter.set_result(None)

    async def run(self) -> None:
        """Run until cancelled."""
        backoff = 0.1
        first = True
        while True:
            stop_if_cancelled()
            try:
                await self._connect()
                self.connected.set()
                backoff = 0.1
                if not first:
                    self.reconnects += 1
                    log.info("pub/sub reconnected")
                    asyncio.get_running_loop().create_task(self._on_reconnect())
                first = False
                await self._serve()
            except (*REDIS_DOWN, Resubscribe, TimeoutError, Exception) as exc:
                if not isinstance(exc, (*REDIS_DOWN, Resubscribe, TimeoutError)):
                    log.exception("pub/sub failed; reconnecting")
                elif self.connected.is_set():
                    log.warning("pub/sub connection lost: %r", exc)
                self.losses += 1
                self.connected.clear()
                await self._close_links()
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
            finally:
                await self._close_links()

    async def _connect(self) -> None:
        """Open the links and subscribe every wanted channel; return once all are
        confirmed (``TimeoutError`` after ``CONFIRM_TIMEOUT``)."""
        self._confirmed.clear()
        self._requests = _drained(self._requests)
        if isinstance(self._redis, aioredis.RedisCluster):
            self._shards = await _slot_map(self._redis)  # the slot map as it is now
        channels = [self._home, *sorted(self._wanted)]
        if not isinstance(self._redis, aioredis.RedisCluster):
            link = self._link_for(self._home)
            await link.pubsub.subscribe(*channels)  # one command, as before
            link.channels.update(channels)
            self._link_of.update(dict.fromkeys(channels, link))
            self._start_reading(link)
        else:
            for channel in channels:
                await self._route(channel)
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while not self._confirmed.issuperset(channels):
            for task in self._readers:
                if task.done():
                    task.result()  # raises what broke it
            if time.monotonic() > deadline:
                raise TimeoutError("pub/sub subscriptions not confirmed")
            await asyncio.sleep(0.005)

    def _link_for(self, channel: str) -> _Link:
        """The link serving ``channel``, made when new."""
        redis = self._redis
        link = self._links.get(self._link_name(channel))
        if link is not None:
            return link
        if isinstance(redis, aioredis.RedisCluster):
            host, port = self._master_of(channel)
            kwargs = _client_kwargs(redis.get_connection_kwargs())
            client = aioredis.Redis(host=host, port=port, **kwargs)
        else:  # the client's own settings (TCP or unix socket, auth, db), no retries
            pool = redis.connection_pool
            settings = dict(pool.connection_kwargs)
            settings.update(socket_timeout=None, retry=Retry(NoBackoff(), 0))
            client = aioredis.Redis.from_pool(
                aioredis.ConnectionPool(connection_class=pool.connection_class, **settings)
            )
        link = _Link(client, isinstance(redis, aioredis.RedisCluster), self)
        self._links[self._link_name(channel)] = link
        return link

    def _master_of(self, channel: str) -> tuple[str, int]:
        slot = key_slot(channel.encode())
        found = [(h, p) for lo, hi, h, p in self._shards if lo <= slot <= hi]
        if not found:
            raise Resubscribe(f"no master serves {channel} (slot {slot})")
        return found[0]

    def _link_name(self, channel: str) -> str:
        if not isinstance(self._redis, aioredis.RedisCluster):
            return ""
        host, port = self._master_of(channel)
        return f"{host}:{port}"

    def _start_reading(self, link: _Link) -> None:
        """Start ``link``'s reader once its connection exists (after a first subscribe)."""
        if link not in self._readers.values():
            self._readers[asyncio.get_running_loop().create_task(link.read())] = link

    async def _route(self, channel: str) -> None:
        link = self._link_for(channel)
        self._link_of[channel] = link
        await link.subscribe(channel)
        self._start_reading(link)

    async def _serve(self) -> None:
        """Carry subscribe/unsubscribe requests to the links until one breaks."""
        while True:
            stop_if_cancelled()
            request = asyncio.ensure_future(self._requests.get())
            try:
                done, _ = await asyncio.wait(
                    [request, *self._readers], return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                if not request.done():
                    request.cancel()
            for task in done:
                if task is not request:
                    task.result()  # raises what broke the link
                    raise Resubscribe("a pub/sub reader stopped")
            if request in done:
                action, channel = request.result()
                if action == "subscribe":
                    if channel not in self._link_of and channel in self._wanted:
                        await self._route(channel)
                    elif channel in self._confirmed:
                        self._confirm(channel)
                elif channel not in self._wanted and channel in self._link_of:
                    await self._link_of.pop(channel).unsubscribe(channel)

    async def _close_links(self) -> None:
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(BaseException):
                await task
        for link in self._links.values():
            await link.close()
        self._readers.clear()
        self._links.clear()
        self._link_of.clear()


async def _slot_map(cluster: aioredis.RedisCluster) -> list[tuple[int, int, str, int]]:
    """``(first slot, last slot, master host, master port)`` as a live node of the
    cluster says now (``CLUSTER SLOTS``), asked on a connection of our own: refreshing
    the command client's map would close its connections under other tasks."""
    kwargs = _client_kwargs(cluster.get_connection_kwargs())
    kwargs["socket_timeout"] = 2.0
    error: Exception = ConnectionError("no node of the cluster is known")
    known = {(n.host, int(n.port)) for n in cluster.get_nodes()}
    known |= startup_addresses(cluster)
    for host, port in sorted(known):
        probe = aioredis.Redis(host=host, port=port, **kwargs)
        try:
            raw = await command(probe, "CLUSTER", "SLOTS")
        except REDIS_DOWN as exc:
            error = exc
            continue
        finally:
            await probe.aclose()
        return [(int(r[0]), int(r[1]), r[2][0].decode() or host, int(r[2][1])) for r in raw]
    raise error


def _drained(queue: asyncio.Queue[tuple[str, str]]) -> asyncio.Queue[tuple[str, str]]:
    """A fresh request queue: after a reconnect every wanted channel is subscribed
    anyway, and unwanted ones are not."""
    while not queue.empty():
        queue.get_nowait()
    return queue
