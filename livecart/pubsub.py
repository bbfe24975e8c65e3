"""A process's Redis pub/sub connection, owned by a single task (any part may run one).

Contracts:
- ``subscribe(channel)`` returns once Redis has confirmed the subscription, so state
  loaded after it cannot miss an event published after the load.
- Messages reach ``on_message(channel, data)`` in the order Redis sent them.
- When the connection breaks, the loop reconnects with backoff (0.1 s doubling to 5 s),
  subscribes every channel again and then calls ``on_reconnect()``: messages published
  while it was away are lost here, and the hub fills the gap from the rooms' histories.
- ``on_message`` must not raise; it is called synchronously and must not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis

from livecart.cancellation import stop_if_cancelled
from livecart.redis_client import REDIS_DOWN

log = logging.getLogger(__name__)


class Subscriber:
    """Channels wanted by this process, kept subscribed across reconnects."""

    def __init__(
        self,
        redis: aioredis.Redis,
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
        self.connected = asyncio.Event()
        self.received = 0

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
        self._wanted.discard(channel)
        self._confirmed.discard(channel)
        self._requests.put_nowait(("unsubscribe", channel))

    async def run(self) -> None:
        """Run until cancelled."""
        backoff = 0.1
        first = True
        while True:
            stop_if_cancelled()
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._home, *self._wanted)
                self._confirmed.clear()
                self.connected.set()
                backoff = 0.1
                if not first:
                    log.info("pub/sub reconnected")
                    asyncio.get_running_loop().create_task(self._on_reconnect())
                first = False
                await self._pump(pubsub)
            except REDIS_DOWN as exc:
                if self.connected.is_set():
                    log.warning("pub/sub connection lost: %s", exc)
                self.connected.clear()
                self._confirmed.clear()
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
            finally:
                with contextlib.suppress(Exception):  # the connection may be gone already
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _pump(self, pubsub: Any) -> None:
        while True:
            stop_if_cancelled()
            while not self._requests.empty():
                action, channel = self._requests.get_nowait()
                if action == "subscribe":
                    await pubsub.subscribe(channel)
                elif channel not in self._wanted:
                    await pubsub.unsubscribe(channel)
            message = await pubsub.get_message(timeout=0.05)
            if message is None:
                continue
            kind = message["type"]
            channel = message["channel"].decode()
            if kind == "message":
                self.received += 1
                self._on_message(channel, message["data"])
            elif kind == "subscribe":
                self._confirmed.add(channel)
                for waiter in self._waiters.pop(channel, []):
                    if not waiter.done():
                        waiter.set_result(None)
