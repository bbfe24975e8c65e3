"""The per-show event log on Redis: every room event of one show, kept for replay.

While a show is recorded, the room's meta hash names it (``show_log``) and the emit
script (``chat.store_redis``) appends each sequenced record, in the same atomic call
that sequences and publishes it, to one of two streams (``livecart.keyspace``):

- ``showlog:<show>``: the chat messages, the bulk (50 a second is 180,000 an hour);
- ``showlog:<show>:state``: a ``snapshot`` of the room written by :meth:`ShowLog.begin`,
  then every other event (pins, products, lineup, sales, deletions, moderation), and
  ``stock`` records: the units left of products on sale, which are checkout's live
  values and not events. The hub's live-values loop (``chat.loops``) hands each change
  it reads to ``RoomStore.log_stock``, whose script logs it at most once a second per
  product and only if it differs from the last logged value (kept in the meta hash),
  so with many nodes reading the same change it is logged once.

Both are inside the room's hash tag, so they live on the room's shard. Guarantees:

- complete and ordered: an event is in the log iff it was emitted while the show was
  being logged, in ``seq`` order (the script appends as it sequences);
- bounded: each stream holds at most ``max_entries`` entries; past that, events are
  counted (``dropped`` in ``showlog:<show>:meta``) and not kept;
- retained for ``retention`` seconds after the show began and again after it ended
  (each stream gets the TTL when created, :meth:`end` renews it), then Redis drops it;
  :meth:`delete` removes it with the show.

Stream entry ids are Redis' clock, so a window by server time is an ``XRANGE`` with a
little slack, filtered on each record's own ``ts``. :class:`ShowLog` is the adapter
web uses; the reading rules (chapters, state at a moment, deletions) are the pure
``chat.replay``.
"""

from __future__ import annotations

import json
from typing import Any

from livecart.chat.errors import StoreUnavailable
from livecart.chat.store_redis import source
from livecart.keyspace import room_key, show_log_key, show_meta_key, show_state_key
from livecart.redis_client import REDIS_DOWN, AnyRedis

DEFAULT_RETENTION = 30 * 86_400
"""Seconds a show's log is kept (``LIVECART_REPLAY_RETENTION``)."""
DEFAULT_MAX_ENTRIES = 1_000_000
"""Entries per stream at most: a 3-hour show at 50 chat messages a second is 540,000."""
CLOCK_SLACK_MS = 5_000
"""How far a node's clock (an event's ``ts``) may be from Redis' (the stream ids)."""
MAX_WINDOW_EVENTS = 5_000
STOCK_SAMPLE_MS = 1_000
"""A product's stock label is logged at most once per this many ms (only changes)."""


def _records(entries: Any) -> list[dict[str, Any]]:
    out = []
    for _id, fields in entries or ():
        raw = fields.get(b"e") if fields else None
        if raw is not None:
            out.append(json.loads(raw))
    return out


class ShowLog:
    """Reads and writes shows' logs. Every method raises ``StoreUnavailable`` when Redis
    is away."""

    def __init__(
        self,
        redis: AnyRedis,
        *,
        retention: float = DEFAULT_RETENTION,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._redis = redis
        self.retention_ms = int(retention * 1000)
        self.max_entries = max_entries
        self._end = redis.register_script(source("end_show_log"))

    async def begin(self, room: str, show: str, snapshot: dict[str, Any]) -> None:
        """Start logging ``room``'s events into ``show``'s log, after ``snapshot`` (the
        room as it is now: ``{"ts", "pinned", "lineup", "products", "sales"}``)."""
        record = json.dumps({**snapshot, "type": "snapshot"}, separators=(",", ":"))
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xadd(show_state_key(room, show), {"e": record})
                pipe.pexpire(show_state_key(room, show), self.retention_ms)
                pipe.hset(show_meta_key(room, show), "started", str(snapshot.get("ts", 0)))
                pipe.pexpire(show_meta_key(room, show), self.retention_ms)
                pipe.hset(
                    room_key(room, "meta"),
                    mapping={
                        "show_log": show,
                        "show_log_ttl": self.retention_ms,
                        "show_log_max": self.max_entries,
                    },
                )
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable() from exc

    async def end(self, room: str, show: str) -> None:
        """Stop logging ``show`` (if it is the one being logged) and keep its log for the
        retention from now on."""
        try:
            await self._end(
                keys=[
                    room_key(room, "meta"),
                    show_log_key(room, show),
                    show_state_key(room, show),
                    show_meta_key(room, show),
                ],
                args=[show, self.retention_ms],
            )
        except REDIS_DOWN as exc:
            raise StoreUnavailable() from exc

    async def state_log(self, room: str, show: str) -> list[dict[str, Any]]:
        """The snapshot and every state event, in order ([] for no such log)."""
        try:
            entries = await self._redis.xrange(show_state_key(room, show))
        except REDIS_DOWN as exc:
            raise StoreUnavailable() from exc
        return _records(entries)

    async def chat(
        self, room: str, show: str, from_ms: float, to_ms: float, limit: int = MAX_WINDOW_EVENTS
    ) -> list[dict[str, Any]]:
        """Chat records with ``from_ms <= ts < to_ms`` (server ms), at most ``limit``,
        oldest first."""
        lo = max(0, int(from_ms) - CLOCK_SLACK_MS)
        hi = int(to_ms) + CLOCK_SLACK_MS
        try:
            entries = await self._redis.xrange(
                show_log_key(room, show),
                min=f"{lo}-0",
                max=f"{hi}-18446744073709551615",
                count=limit + 1000,
            )
        except REDIS_DOWN as exc:
            raise StoreUnavailable() from exc
        records = [r for r in _records(entries) if from_ms <= float(r.get("ts", 0)) < to_ms]
        return records[:limit]

    async def info(self, room: str, show: str) -> dict[str, Any]:
        """``{"exists", "chat", "state", "views", "dropped", "hidden", "hidden_chapters"}``."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.exists(show_state_key(room, show))
                pipe.xlen(show_log_key(room, show))
                pipe.xlen(show_state_key(room, show))
                pipe.hgetall(show_meta_key(room, show))
                exists, chat, state, meta = await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable() from exc
        m = {k.decode(): v.decode() for k, v in meta.items()}
        return {
            "exists": bool(exists),
            "chat": int(chat),
            "state": int(state),
            "views": int(m.get("views", 0)),
            "dropped": int(m.get("dropped", 0)),
            "hidden": m.get("hidden") == "1",
            "hidden_chapters": sorted(json.loads(m.get("hidden_chapters", "[]"))),
        }

    async def count_view(self, room: str, show: str) -> int:
        """One more replay view of ``show``; returns the count."""
        key = show_meta_key(room, show)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, "views", 1)
                pipe.pexpire(key, self.retention_ms, nx=True)
                views, _ = await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable() from exc
        return int(views)

    async def set_hidden(self, room: str, show: str, hidden: bool, chapters: list[str]) -> None:
        """Hide (or show again) the whole replay and the chapters named ``<product>:<n>``."""
        key = show_meta_key(room, show)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    key,
                    mapping={
                        "hidden": "1" if hidden else "0",
                        "hidden_chapters": json.dumps(sorted(set(chapters))),
                    },
                )
                pipe.pexpire(key, self.retention_ms, nx=True)
                await pipe.execute()
        except REDIS_DOWN as exc:
            raise StoreUnavailable() from exc

    async def delete(self, room: str, show: str) -> None:
        """Delete the show's log (and stop logging it if it still was)."""
        await self.end(room, show)
        try:
            await self._redis.delete(
                show_log_key(room, show), show_state_key(room, show), show_meta_key(room, show)
            )
        except REDIS_DOWN as exc:
            raise StoreUnavailable() from exc

    async def memory(self, room: str, show: str) -> int:
        """Bytes Redis uses for the show's two streams (``MEMORY USAGE``)."""
        total = 0
        for key in (show_log_key(room, show), show_state_key(room, show)):
            try:
                used = await self._redis.memory_usage(key, samples=0)
            except REDIS_DOWN as exc:
                raise StoreUnavailable() from exc
            total += int(used or 0)
        return total
