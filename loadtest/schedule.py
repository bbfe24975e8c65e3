"""The time of one ``livecart loadtest`` client process: seconds since the run's start,
the background tasks and timers it started, and whether the run is stopping.

Every part of the process (``loadtest.crowd``, ``loadtest.buyers``,
``loadtest.room_activity``) reads the same clock and the same ``stopping`` flag, and
hands its tasks and timers here so that ``close`` ends all of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any


class Schedule:
    """One client process's run clock (``now``: seconds since the start the parent set,
    ``start_at``), its ``stopping`` flag, and the background tasks and timers that
    ``close`` cancels."""

    def __init__(self) -> None:
        self.m0 = 0.0  # time.monotonic() at the start of the run
        self.stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handles: list[asyncio.TimerHandle] = []

    def start_at(self, t0: float) -> None:
        """The run starts at wall-clock time ``t0`` (the parent's, shared by every process)."""
        self.m0 = time.monotonic() + (t0 - time.time())

    def now(self) -> float:
        """Seconds since the start of the run."""
        return time.monotonic() - self.m0

    async def until(self, t: float) -> None:
        """Sleep until ``t`` seconds after the start (at once if that has passed)."""
        delay = self.m0 + t - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background until it ends or ``close``."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def later(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        """Call ``fn(*args)`` in ``delay`` seconds, unless ``close`` comes first."""
        self._handles.append(asyncio.get_running_loop().call_later(delay, fn, *args))

    async def close(self) -> None:
        """Cancel every timer and background task, and wait for the tasks to end."""
        for handle in self._handles:
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
