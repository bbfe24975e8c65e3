"""The room's live/ended status follows its stream, with a grace period for glitches.

When a publish starts the room goes ``live`` at once. When the last publisher goes away
the room goes ``ended`` only if no publish has started again within ``grace`` seconds:
a host whose network drops for a moment and reconnects does not end the show for
thousands of viewers. The host ends a show for good with "End show"
(``POST /api/rooms/{room}/end``), which does not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from livecart.chat.actor import Actor
from livecart.chat.commands import SetStatus
from livecart.chat.errors import CommandError
from livecart.chat.hub import Hub

log = logging.getLogger(__name__)


class LiveStatus:
    """Sets a room ``live`` when its stream starts and ``ended`` when it stops for longer
    than ``grace`` seconds (a restart within the grace cancels the end). The status change
    goes through ``Hub.execute`` as the host, so viewers get the ``room`` event; a refusal
    (store away) is logged, never raised to the streamer. ``close`` cancels and awaits the
    pending ends."""

    def __init__(self, hub: Callable[[], Hub], grace: float) -> None:
        self._hub = hub
        self.grace = grace
        self._pending: dict[str, asyncio.Task[None]] = {}

    async def on_live(self, room_id: str, live: bool) -> None:
        """The streamer's callback: a room's first publisher started (True) or its last
        one ended (False)."""
        pending = self._pending.pop(room_id, None)
        if pending is not None:
            pending.cancel()
        if live:
            await self._set(room_id, "live")
        else:
            self._pending[room_id] = asyncio.get_running_loop().create_task(
                self._end_later(room_id)
            )

    async def _end_later(self, room_id: str) -> None:
        await asyncio.sleep(self.grace)
        self._pending.pop(room_id, None)
        await self._set(room_id, "ended")

    async def _set(self, room_id: str, status: str) -> None:
        hub = self._hub()
        try:
            room = await hub.room(room_id)
            if room.state.status != status:
                await hub.execute(room, Actor.host(room_id, room.state.host), SetStatus(status))
        except CommandError as exc:
            log.warning(
                "room %s: could not set status %s: %s",
                room_id,
                status,
                exc,
                extra={"room": room_id},
            )

    async def close(self) -> None:
        """Cancel and await every pending end (at shutdown)."""
        tasks: list[asyncio.Task[Any]] = list(self._pending.values())
        self._pending.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
