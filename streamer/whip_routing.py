"""WHIP sessions across processes: which process holds a room's publisher.

Adapter (Redis), used by :class:`streamer.cluster.MediaCluster`, which gives it the
process's pub/sub subscriber and its ordered outbox. Every key and channel carries the
room's hash tag (``lc:{room}:...``, :mod:`livecart.keyspace`).

- ``lc:{room}:whip`` -- key: ``<node> <session>`` of the room's publisher (a few
  bytes, refreshed with a TTL by the owner): where a DELETE must go. One publisher per
  room across the cluster: a process that takes the room tells the old owner it was
  ``replaced`` (on ``lc:{room}:media:ctl``).
- ``lc:{room}:media:ctl`` -- a WHIP ``delete`` from any process to the owner (beside the
  relay's ``want``).
- ``lc:{room}:whip:reply:<node>`` -- the owner's answer to a routed DELETE.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from livecart.keyspace import media_control_channel, whip_reply_channel, whip_session_key
from livecart.pubsub import Subscriber
from livecart.redis_client import REDIS_DOWN, AnyRedis

SESSION_TTL_MS = 15_000
"""TTL of the room's session -> node key; the owner refreshes it every few seconds."""
SESSION_REFRESH = 5.0
ROUTE_TIMEOUT = 5.0
"""Seconds a routed DELETE waits for the owner's answer."""

_REFRESH = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class LocalPublishers(Protocol):
    """What the cluster asks of this process's WHIP sessions (``StreamerService``).

    The service holds the cluster, not the other way round: the relay only ends a local
    session when another process says so.
    """

    async def unpublish(self, room: str, session_id: str, *, local_only: bool = False) -> bool:
        """End this process's session ``session_id`` of ``room``; False when unknown."""
        ...

    def replaced_elsewhere(self, room: str, session_id: str) -> None:
        """Another process took the room's publisher: end ours without going offline."""
        ...


class WhipRouting:
    """This process's side of the session -> process map (one per ``MediaCluster``)."""

    def __init__(
        self,
        service: LocalPublishers,
        redis: AnyRedis,
        node: str,
        subscriber: Subscriber,
        publish: Callable[[str, bytes], None],
    ) -> None:
        """``node``: this process's id; ``publish``: queue one message on the cluster's
        outbox (sent in order with the relay's)."""
        self.service = service
        self.redis = redis
        self.node = node
        self.subscriber = subscriber
        self.publish = publish
        self._replies: dict[str, asyncio.Future[bool]] = {}
        self._last_refresh = time.monotonic()

    def _owner(self, session: str) -> str:
        return f"{self.node} {session}"

    def _control(self, room: str, msg: dict[str, Any]) -> None:
        self.publish(media_control_channel(room), json.dumps(msg).encode())

    # ------------------------------------------------------------------ the owner

    async def claim(self, room: str, session: str) -> None:
        """Record this process as the holder of ``room``'s publisher ``session``; a
        publisher of the room on another process is told it was replaced. Raises what
        Redis raises when it is away."""
        old = await self.redis.set(
            whip_session_key(room), self._owner(session), px=SESSION_TTL_MS, get=True
        )
        if isinstance(old, bytes):
            old_node, _, old_session = old.decode().partition(" ")
            if old_node != self.node:
                self._control(room, {"op": "replaced", "session": old_session, "by": self.node})

    async def release(self, room: str, session: str) -> None:
        """Delete the room's session key if it is still ours (a lost Redis is ignored)."""
        with contextlib.suppress(*REDIS_DOWN):
            await self.redis.eval(_RELEASE, 1, whip_session_key(room), self._owner(session))

    async def keep(self, owned: Iterable[tuple[str, str]], now: float) -> None:
        """Every :data:`SESSION_REFRESH`, renew the TTL of the ``(room, session)`` keys this
        process holds (called from the cluster's ticker)."""
        if now - self._last_refresh < SESSION_REFRESH:
            return
        self._last_refresh = now
        for room, session in owned:
            with contextlib.suppress(*REDIS_DOWN):
                await self.redis.eval(
                    _REFRESH, 1, whip_session_key(room), self._owner(session), SESSION_TTL_MS
                )

    def replaced(self, room: str, session: str, msg: dict[str, Any]) -> None:
        """A ``replaced`` control message: end our ``session`` if it is the one named."""
        if msg.get("session") == session:
            self.service.replaced_elsewhere(room, session)

    async def routed_delete(self, room: str, msg: dict[str, Any]) -> None:
        """A ``delete`` routed here from another process: end the session, answer it."""
        ok = await self.service.unpublish(room, str(msg.get("session")), local_only=True)
        answer = json.dumps({"id": msg.get("id"), "ok": ok}).encode()
        self.publish(whip_reply_channel(room, str(msg.get("node"))), answer)

    # ------------------------------------------------------------------ any process

    async def is_published(self, room: str) -> bool:
        """True when some process holds the room's publisher (False when Redis is away)."""
        try:
            return bool(await self.redis.exists(whip_session_key(room)))
        except REDIS_DOWN:
            return False

    async def live_elsewhere(self, room: str) -> bool:
        """True when another process holds the room's publisher (its init will follow)."""
        try:
            raw = await self.redis.get(whip_session_key(room))
        except REDIS_DOWN:
            return False
        return isinstance(raw, bytes) and not raw.startswith(self.node.encode() + b" ")

    async def remote_delete(self, room: str, session: str) -> bool:
        """End ``session`` of ``room`` on whichever process holds it; its answer."""
        try:
            raw = await self.redis.get(whip_session_key(room))
        except REDIS_DOWN:
            return False
        if not isinstance(raw, bytes):
            return False
        node, _, current = raw.decode().partition(" ")
        if current != session or node == self.node:
            return False
        rid = secrets.token_hex(8)
        reply = whip_reply_channel(room, self.node)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._replies[rid] = future
        try:
            await self.subscriber.subscribe(reply)
            self._control(room, {"op": "delete", "session": session, "id": rid, "node": self.node})
            return await asyncio.wait_for(future, ROUTE_TIMEOUT)
        except TimeoutError:
            return False
        finally:
            self._replies.pop(rid, None)
            if not self._replies:
                self.subscriber.unsubscribe(reply)

    def on_reply(self, msg: dict[str, Any]) -> None:
        """A message on this process's reply channel: the answer to a routed DELETE."""
        future = self._replies.get(str(msg.get("id")))
        if future is not None and not future.done():
            future.set_result(bool(msg.get("ok")))
