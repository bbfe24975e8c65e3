"""Every command of docs/protocol.md (and docs/checkout.md) as a typed method.

``Commands`` is a mixin over one method, ``command(cmd, **args)``, which sends a command
and returns its reply's ``data`` or raises ``CommandError`` with the reply's code (the
connection supplies it). Each method here names its arguments, sends nothing the
protocol does not define, and returns the useful part of the reply. Host-only methods
need a connection opened with the room's host token; a viewer gets ``forbidden``.
No I/O of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any


def new_key() -> str:
    """A fresh idempotency key for ``buy``/``pay`` (22 characters of ``[A-Za-z0-9_-]``)."""
    return secrets.token_urlsafe(16)


class Commands:
    async def command(
        self, cmd: str, /, *, timeout: float | None = None, **args: Any
    ) -> Mapping[str, Any]:
        raise NotImplementedError

    # -- everyone ------------------------------------------------------------------------

    async def chat(self, text: str) -> int:
        """Post a chat message; returns its ``seq`` (which is also its id)."""
        return int((await self.command("chat", text=text))["seq"])

    async def heart(self, n: int = 1) -> None:
        """Send ``n`` (1-50) heart taps."""
        await self.command("heart", n=n)

    async def explain(self, product_id: str) -> int:
        """Ask the host to explain a product; returns its request count."""
        return int((await self.command("explain", product_id=product_id))["requests"])

    async def ping(self) -> float:
        """The server's clock, in milliseconds since the Unix epoch."""
        return float((await self.command("ping"))["ts"])

    async def buy(self, product_id: str, qty: int = 1, key: str | None = None) -> Mapping[str, Any]:
        """Reserve ``qty`` units; returns the reservation. Retrying with the same ``key``
        never buys twice (docs/checkout.md)."""
        data = await self.command("buy", product_id=product_id, qty=qty, key=key or new_key())
        return dict(data["reservation"])

    async def pay(
        self, reservation_id: str, card: str, key: str | None = None
    ) -> Mapping[str, Any]:
        """Pay a reservation; returns the order."""
        data = await self.command(
            "pay", reservation_id=reservation_id, card=card, key=key or new_key()
        )
        return dict(data["order"])

    # -- host only -----------------------------------------------------------------------

    async def add_product(
        self, name: str, price: int, currency: str, stock: int, image_url: str = ""
    ) -> Mapping[str, Any]:
        """Add a product to the lineup; returns it (with its ``id``)."""
        args: dict[str, Any] = {"name": name, "price": price, "currency": currency}
        if image_url:
            args["image_url"] = image_url
        data = await self.command("add_product", stock=stock, **args)
        return dict(data["product"])

    async def update_product(self, product_id: str, **changes: Any) -> Mapping[str, Any]:
        """Change any of ``name``, ``price``, ``currency``, ``image_url``; returns it."""
        data = await self.command("update_product", product_id=product_id, **changes)
        return dict(data["product"])

    async def reorder(self, lineup: Iterable[str]) -> None:
        await self.command("reorder", lineup=list(lineup))

    async def pin(self, product_id: str | None) -> None:
        """Pin a product (``None`` unpins); clears its explain requests."""
        await self.command("pin", product_id=product_id)

    async def dismiss(self, product_id: str) -> None:
        """Clear a product's explain requests."""
        await self.command("dismiss", product_id=product_id)

    async def delete(self, message_id: int) -> None:
        """Delete a chat message (its id is its ``seq``)."""
        await self.command("delete", message_id=message_id)

    async def mute(self, vid: str) -> None:
        await self.command("mute", vid=vid)

    async def unmute(self, vid: str) -> None:
        await self.command("unmute", vid=vid)

    async def ban(self, vid: str) -> None:
        """Ban a viewer; their sockets close with 4003."""
        await self.command("ban", vid=vid)

    async def unban(self, vid: str) -> None:
        await self.command("unban", vid=vid)

    async def slow_mode(self, seconds: int) -> None:
        """One chat message per ``seconds`` per viewer (0 turns it off)."""
        await self.command("slow_mode", seconds=seconds)

    async def banned_words(self, words: Iterable[str]) -> None:
        await self.command("banned_words", words=list(words))

    async def set_status(self, status: str) -> None:
        """``scheduled``, ``live`` or ``ended``."""
        await self.command("status", status=status)

    async def set_lang(self, lang: str) -> None:
        """The room's default page language (``zh-CN``; ``""`` for none)."""
        await self.command("set_lang", lang=lang)

    async def open_sale(
        self,
        product_id: str,
        price: int,
        currency: str,
        units: int,
        limit: int,
        opens_at: float | None = None,
        ends_at: float | None = None,
    ) -> Mapping[str, Any]:
        """Open (or schedule, with ``opens_at`` in ms) a flash sale; returns the sale."""
        times = {k: v for k, v in (("opens_at", opens_at), ("ends_at", ends_at)) if v is not None}
        data = await self.command(
            "open_sale",
            product_id=product_id,
            price=price,
            currency=currency,
            units=units,
            limit=limit,
            **times,
        )
        return dict(data["sale"])

    async def close_sale(self, product_id: str) -> Mapping[str, Any]:
        return dict((await self.command("close_sale", product_id=product_id))["sale"])
