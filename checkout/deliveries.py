"""This node's fulfilment deliveries: at most one running webhook delivery per room.

``Deliveries`` owns the tasks that run ``checkout.fulfilment.WebhookDelivery`` for the
shop's webhook (``WebhookTarget``). It implements ``checkout.show_end.Webhook``:

- ``deliver(room, records)`` starts delivering ``records`` in a task of its own and
  returns ``True``, unless a delivery of ``room`` is still running on this node: then it
  returns ``False`` and changes nothing. A finished delivery (acknowledged, or given
  up) is forgotten, so the registry holds running deliveries only, and the next
  ``deliver`` of that room starts a new one.
- Each delivery opens its own ``aiohttp.ClientSession`` and reports its status after
  every attempt through ``save(room, status)`` (where any node can read it); a failing
  ``save`` of ``CheckoutError`` is ignored (the delivery goes on, the stored status lags).
- ``close()`` cancels every running delivery and waits for it to stop; for aiohttp's
  ``cleanup_ctx``.

Nothing here is shared between nodes: two nodes asked to deliver the same room both do
(delivery is at least once; receivers deduplicate by order ``id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from livecart.checkout.errors import CheckoutError
from livecart.checkout.fulfilment import DeliveryStatus, WebhookDelivery

log = logging.getLogger("livecart.checkout.deliveries")

SaveStatus = Callable[[str, Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where the orders go: ``url``, the HMAC key ``secret``
    (``webhook_signature.signing_key`` of the configured secret), and the first retry
    delay."""

    url: str
    secret: bytes
    base_delay: float = 1.0


class Deliveries:
    """Deliveries to ``target``, their status stored through ``save``."""

    def __init__(self, target: WebhookTarget, save: SaveStatus) -> None:
        self.target = target
        self._save = save
        self._running: dict[str, asyncio.Task[DeliveryStatus]] = {}

    def __len__(self) -> int:
        """How many deliveries are running."""
        return len(self._running)

    def running(self, room: str) -> bool:
        """Whether a delivery of ``room`` is running on this node."""
        task = self._running.get(room)
        return task is not None and not task.done()

    def deliver(self, room: str, records: Sequence[dict[str, Any]]) -> bool:
        """Start delivering ``records`` of ``room`` unless a delivery of it is running;
        whether one was started. Needs a running event loop."""
        if self.running(room):
            return False
        task = asyncio.get_running_loop().create_task(self._run(room, records))
        self._running[room] = task
        task.add_done_callback(lambda done: self._forget(room, done))
        return True

    async def close(self) -> None:
        """Cancel every running delivery and wait for them to stop."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _forget(self, room: str, task: asyncio.Task[DeliveryStatus]) -> None:
        if self._running.get(room) is task:
            del self._running[room]
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "delivery of %s stopped", room, exc_info=task.exception(), extra={"room": room}
            )

    async def _run(self, room: str, records: Sequence[dict[str, Any]]) -> DeliveryStatus:
        async def save(status: DeliveryStatus) -> None:
            with contextlib.suppress(CheckoutError):
                await self._save(room, status.to_dict())

        async with aiohttp.ClientSession() as session:
            delivery = WebhookDelivery(
                room,
                records,
                url=self.target.url,
                secret=self.target.secret,
                session=session,
                base_delay=self.target.base_delay,
                on_status=save,
            )
            await save(delivery.status)
            return await delivery.run()
