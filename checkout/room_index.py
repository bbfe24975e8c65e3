"""The index of rooms with recent holds (``lc:checkout:rooms``): what ``sweep()`` walks.

- ``touch(room)`` keeps a room in the index; every buy calls it. A node writes a room's
  entry at most once every ``every`` seconds (a burst of buys sends one ZADD, not one
  each), and the write is made before the hold, so a hold is never missing from the
  index. If the write fails, the next buy of the room tries again.
- ``active()`` lists the rooms touched within ``keep_ms`` (the hold time plus the key
  time to live: long enough for every hold to end and every late refund to be retried)
  and removes the older ones from Redis.

Memory: the node remembers only the rooms it wrote in the last ``every`` seconds. An
older memory would not hold a write back anyway, so it is dropped as new rooms come in:
the memory is bounded by the rooms bought in during one interval, however many rooms a
node sees over its life.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from livecart.checkout.datastore import Datastore
from livecart.checkout.scripts import redis_failures
from livecart.keyspace import CHECKOUT_ROOMS
from livecart.redis_replies import text

TOUCH_EVERY = 30.0  # seconds between writes of one room's entry, per node


class RoomIndex:
    """``monotonic`` paces the writes (tests pass a fake one); the entries' scores are
    ``store``'s clock in milliseconds."""

    def __init__(
        self,
        store: Datastore,
        *,
        keep_ms: int,
        every: float = TOUCH_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._keep_ms = keep_ms
        self._every = every
        self._monotonic = monotonic
        self._written: OrderedDict[str, float] = OrderedDict()  # oldest write first

    def __len__(self) -> int:
        """How many rooms the node remembers writing (at most those of one interval)."""
        return len(self._written)

    async def touch(self, room: str) -> None:
        """Make sure ``room`` is in the index. Raises ``unavailable``."""
        now = self._monotonic()
        while self._written and now - next(iter(self._written.values())) >= self._every:
            self._written.popitem(last=False)
        if room in self._written:
            return
        # marked before the write: a burst of buys sends one ZADD, not one each
        self._written[room] = now
        try:
            with redis_failures():
                await self._store.redis.zadd(CHECKOUT_ROOMS, {room: self._store.now_ms()})
        except BaseException:
            self._written.pop(room, None)
            raise

    async def active(self) -> list[str]:
        """The rooms touched within ``keep_ms``, older ones removed. Raises
        ``unavailable``."""
        horizon = self._store.now_ms() - self._keep_ms
        redis = self._store.redis
        with redis_failures():
            await redis.zremrangebyscore(CHECKOUT_ROOMS, "-inf", f"({horizon}")
            members = await redis.zrangebyscore(CHECKOUT_ROOMS, horizon, "+inf")
        return [text(m) for m in members]
