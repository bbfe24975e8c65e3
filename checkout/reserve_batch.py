"""Coalesce concurrent reserves of one room into one script call.

A flash sale sends thousands of ``buy`` commands in a second, nearly all of them for one
room. One EVALSHA each costs the node a trip through the Redis client library and Redis
one command (and, under ``appendfsync always``, its share of a write to disk) per buy:
on a small machine that, not the stock logic, was what held buys back. ``ReserveBatcher``
sends the reserves that are waiting as one ``reserve_many`` call instead.

Guarantees:

- Each request gets exactly the reply that ``reserve.lua`` gives it: ``reserve_many.lua``
  runs that script's body once per request, in arrival order, inside one atomic call.
  So the checkout guarantees (idempotency per key, the stock invariant, one definite
  outcome per key) are those of single reserves run one after another.
- No waiting when the room is quiet: a request goes out in the event loop's next turn
  when fewer than ``max_inflight`` calls for its room are out, together with whatever
  else arrived in the same turn. Requests that arrive while the calls are out go
  together, in arrival order, in the next call (at most ``max_batch`` per call).
- A script error in one request (a bug) is raised to that request alone, as the
  ``redis.exceptions.ResponseError`` its own call would have raised.
- A failure of a call (``CheckoutError("unavailable")``, or anything else) is raised to
  every request of that call; after ``unavailable`` each may or may not have been
  applied, and a retry with the same key resolves it, as with a single call.
- A request whose caller was cancelled before its call went out is not sent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import ResponseError

from livecart.checkout.errors import CheckoutError
from livecart.checkout.scripts import Arg, Scripts

Request = tuple[Sequence[Arg], "asyncio.Future[dict[str, Any]]"]


class ReserveBatcher:
    """Batches ``reserve`` requests per room. One per ``CheckoutService``.

    ``now_ms`` is read when a call goes out: every request of a call is decided at that
    instant. ``key_ttl_ms`` is how long the idempotency records are kept.
    """

    def __init__(
        self,
        scripts: Scripts,
        now_ms: Callable[[], int],
        key_ttl_ms: int,
        *,
        max_batch: int = 200,
        max_inflight: int = 2,
    ) -> None:
        if max_batch < 1 or max_inflight < 1:
            raise ValueError("max_batch and max_inflight must be at least 1")
        self._scripts = scripts
        self._now_ms = now_ms
        self._ttl_ms = key_ttl_ms
        self._max_batch = max_batch
        self._max_inflight = max_inflight
        self._queues: dict[str, deque[Request]] = {}
        self._senders: dict[str, int] = {}  # room -> calls being made
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0  # script calls made, for figures and tests
        self.requests = 0  # requests sent in them

    async def reserve(self, room: str, args: Sequence[Arg]) -> dict[str, Any]:
        """The reply of ``reserve.lua`` for ``args`` (its ARGV[3..14]). Raises what the
        call raised (``CheckoutError("unavailable")`` when Redis is away)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(room)
        if queue is None:
            queue = self._queues[room] = deque()
        queue.append((args, future))
        if self._senders.get(room, 0) < self._max_inflight:
            self._senders[room] = self._senders.get(room, 0) + 1
            task = asyncio.ensure_future(self._send(room, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _send(self, room: str, queue: deque[Request]) -> None:
        """Make calls for ``room`` until its queue is empty."""
        try:
            while queue:
                batch: list[Request] = []
                while queue and len(batch) < self._max_batch:
                    request = queue.popleft()
                    if not request[1].done():  # its caller went away
                        batch.append(request)
                if batch:
                    await self._call(room, batch)
        finally:
            left = self._senders[room] - 1
            if left:
                self._senders[room] = left
            else:
                del self._senders[room]
                if self._queues.get(room) is queue:
                    del self._queues[room]
                while queue:  # only when cancelled: nobody else will send these
                    _fail(queue.popleft()[1], _stopping())

    async def _call(self, room: str, batch: list[Request]) -> None:
        self.calls += 1
        self.requests += len(batch)
        try:
            replies = await self._scripts.run_many(
                "reserve_many", room, self._now_ms(), self._ttl_ms, [args for args, _ in batch]
            )
        except asyncio.CancelledError:
            for _, future in batch:
                _fail(future, _stopping())
            raise
        except CheckoutError as exc:
            for _, future in batch:  # one exception object per waiter
                _fail(future, CheckoutError(exc.code, exc.message, exc.retry_after))
            return
        except Exception as exc:
            for _, future in batch:
                _fail(future, exc)
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if "script_error" in reply:
                _fail(future, ResponseError(f"reserve_many: {reply['script_error']}"))
            elif not future.done():
                future.set_result(reply)


def _stopping() -> CheckoutError:
    return CheckoutError("unavailable", "the node is stopping; retry")


def _fail(future: asyncio.Future[dict[str, Any]], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
