"""Fulfilment: POST the show's orders to the shop's webhook until it acknowledges them.

At show end the hub exports the orders (``CheckoutService.export``) and hands them to a
``WebhookDelivery``. Delivery is at least once: a batch is POSTed again until the
receiver answers 2xx, so the receiver must be idempotent; every order carries its ``id``
for that. The body of each POST (JSON, UTF-8)::

    {"event": "orders.export", "room": "demo", "delivery_id": "demo-5f1c...",
     "batch": 1, "batches": 1, "orders": [<order records>], "csv": "<CSV of these orders>"}

The body of a batch is built once and sent byte for byte the same on every attempt.
Each attempt is signed by the Standard Webhooks spec (``checkout.webhook_signature``):
``webhook-id`` (``<delivery_id>-<batch>``, the same on every retry of that batch),
``webhook-timestamp`` (this attempt's time) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``), so a receiver that checks
the timestamp refuses a captured delivery replayed later. ``X-Livecart-Delivery``
repeats ``delivery_id``. The CSV's text cells are neutralised against formula injection
(``orders.csv_cell``).

Retries back off exponentially (``base_delay`` doubling up to ``max_delay``, with jitter)
forever by default; ``status`` reports progress (``delivered``, ``attempts``,
``last_error``, ...) and ``on_status`` is called after every attempt, e.g. to store it in
Redis where every node can read it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from livecart.checkout import webhook_signature
from livecart.checkout.orders import orders_csv

log = logging.getLogger("livecart.checkout.fulfilment")

DELIVERY_HEADER = "X-Livecart-Delivery"


def verify_signature(
    key: bytes, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> bool:
    """Whether ``headers`` (any mapping; names matched without case) sign ``body`` with
    ``key`` and a timestamp within five minutes of ``now`` (for receivers and tests)."""
    received = {name.lower(): value for name, value in headers.items()}
    try:
        webhook_signature.verify(key, received, body, time.time() if now is None else now)
    except webhook_signature.SignatureRefused:
        return False
    return True


def delivery_id(room: str, orders: Sequence[dict[str, Any]]) -> str:
    """Stable for the same room and orders: a re-export of an unchanged show repeats it."""
    digest = hashlib.sha256(json.dumps([room, [o["id"] for o in orders]]).encode())
    return f"{room}-{digest.hexdigest()[:16]}"


def build_batches(
    room: str, orders: Sequence[dict[str, Any]], batch_size: int = 500
) -> list[bytes]:
    """The request bodies for ``orders`` (at least one, possibly with no orders)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ident = delivery_id(room, orders)
    chunks = [orders[i : i + batch_size] for i in range(0, len(orders), batch_size)] or [[]]
    return [
        json.dumps(
            {
                "event": "orders.export",
                "room": room,
                "delivery_id": ident,
                "batch": n,
                "batches": len(chunks),
                "orders": list(chunk),
                "csv": orders_csv(chunk),
            },
            separators=(",", ":"),
        ).encode()
        for n, chunk in enumerate(chunks, start=1)
    ]


@dataclass(slots=True)
class DeliveryStatus:
    """Where a delivery stands: batches acknowledged of all, attempts, the last error, and
    when the last and next attempts are (wall time); ``delivered`` once every batch was
    acknowledged. Stored after each attempt."""

    delivery_id: str
    orders: int
    batches: int
    batches_delivered: int = 0
    attempts: int = 0
    delivered: bool = False
    last_error: str | None = None
    last_attempt_at: float | None = None
    next_attempt_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The status as a JSON-ready dict."""
        return asdict(self)


class WebhookDelivery:
    """Deliver one room's orders to ``url``, signed with ``secret`` (the HMAC key:
    ``webhook_signature.signing_key`` of the configured secret).

    ``session`` is the caller's ``aiohttp.ClientSession`` (the caller closes it).
    ``max_attempts=None`` retries until acknowledged; a number gives up after that many
    attempts per batch, leaving ``delivered`` false. ``run()`` returns the final status;
    cancelling it stops the delivery cleanly.
    """

    def __init__(
        self,
        room: str,
        orders: Sequence[dict[str, Any]],
        *,
        url: str,
        secret: bytes,
        session: aiohttp.ClientSession,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        request_timeout: float = 10.0,
        max_attempts: int | None = None,
        batch_size: int = 500,
        on_status: Callable[[DeliveryStatus], Awaitable[None]] | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self._session = session
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._max_attempts = max_attempts
        self._on_status = on_status
        self._bodies = build_batches(room, orders, batch_size)
        self.status = DeliveryStatus(delivery_id(room, orders), len(orders), len(self._bodies))

    async def run(self) -> DeliveryStatus:
        """Deliver the batches not yet acknowledged, in order, each retried with backoff
        until acknowledged (or ``max_attempts`` is spent, which stops the run); report and
        return the final status. At least once: the receiver deduplicates by order ``id``.
        Cancelling it stops cleanly."""
        for index, body in enumerate(self._bodies):
            if index < self.status.batches_delivered:
                continue
            if not await self._deliver(body, f"{self.status.delivery_id}-{index + 1}"):
                break
            self.status.batches_delivered += 1
        self.status.delivered = self.status.batches_delivered == self.status.batches
        self.status.next_attempt_at = None
        await self._report()
        return self.status

    async def _deliver(self, body: bytes, msg_id: str) -> bool:
        tries = 0
        while True:
            headers = {
                "Content-Type": "application/json",
                DELIVERY_HEADER: self.status.delivery_id,
                **webhook_signature.headers(self._secret, msg_id, int(time.time()), body),
            }
            tries += 1
            self.status.attempts += 1
            self.status.last_attempt_at = time.time()
            try:
                async with self._session.post(
                    self.url,
                    data=body,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        self.status.last_error = None
                        return True
                    self.status.last_error = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.status.last_error = f"{type(exc).__name__}: {exc}"
            if self._max_attempts is not None and tries >= self._max_attempts:
                await self._report()
                return False
            delay = min(self._max_delay, self._base_delay * 2 ** (tries - 1))
            delay *= random.uniform(0.5, 1.0)
            self.status.next_attempt_at = time.time() + delay
            log.info("webhook %s: %s, retrying in %.1fs", self.url, self.status.last_error, delay)
            await self._report()
            await asyncio.sleep(delay)

    async def _report(self) -> None:
        if self._on_status is None:
            return
        try:
            await self._on_status(self.status)
        except Exception:  # reporting must never stop a delivery
            log.exception("could not report the delivery status")
