"""The background loop that expires holds, for the hub to run as a task.

``run_sweeper(service)`` calls ``service.sweep()`` every ``interval`` seconds until it is
cancelled. Several nodes may run it at once: each hold expires exactly once. Redis being
away is logged and waited out; an unexpected error is logged with its traceback and the
loop carries on (a sweeper that died silently would leave stock held forever).

``sweeping(service)`` is the same as an async context manager, for aiohttp's
``cleanup_ctx``: the task starts on enter and is cancelled and awaited on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from livecart.cancellation import stop_if_cancelled
from livecart.checkout.errors import CheckoutError

log = logging.getLogger("livecart.checkout.sweeper")

MIN_INTERVAL = 0.05
MAX_INTERVAL = 60.0


class Sweepable(Protocol):
    """What the sweeper runs on (``CheckoutService``)."""

    async def sweep(self, room: str | None = None) -> int:
        """Expire the holds whose time ran out (of ``room``, or of every room); return how
        many. Each hold expires exactly once, however many nodes sweep."""
        ...


async def run_sweeper(service: Sweepable, *, interval: float = 1.0) -> None:
    """Sweep forever, sleeping ``interval`` seconds (clamped to 0.05..60) between rounds.
    Returns only by cancellation."""
    pause = min(max(interval, MIN_INTERVAL), MAX_INTERVAL)
    while True:
        try:
            expired = await service.sweep()
            if expired:
                log.info("released %d expired holds", expired)
        except CheckoutError as exc:
            log.warning("sweep skipped: %s", exc)
        except Exception:
            log.exception("sweep failed")
        stop_if_cancelled()
        await asyncio.sleep(pause)


@contextlib.asynccontextmanager
async def sweeping(service: Sweepable, *, interval: float = 1.0) -> AsyncIterator[None]:
    task = asyncio.create_task(run_sweeper(service, interval=interval), name="checkout-sweeper")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
