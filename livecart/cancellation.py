"""Stopping background loops reliably."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise CancelledError when the current task was asked to stop.

    A cancellation can be swallowed inside a library call (Python 3.11's
    ``asyncio.wait_for`` loses it when the awaited call finishes at the same moment); a
    loop that runs forever must then stop by itself at its next round, or shutdown waits
    for it forever. Call it once per round of every such loop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
