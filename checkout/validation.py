"""Validation of everything a client or the hub hands to checkout.

Pure functions over plain values: any input at all yields either a frozen, well-typed
request or ``CheckoutError("bad_args", "<field>: ...")`` naming the first bad field.
Nothing here touches Redis, so a refused call has changed nothing.

Limits (their values are ``livecart.limits``', chosen so that every amount stays an
exact integer in Lua's doubles and in cjson's 14 significant digits):

- idempotency key: ``MIN_KEY_LEN``-``MAX_KEY_LEN`` characters ``[A-Za-z0-9_-]``
- ``qty``: int 1..``MAX_QTY``; ``limit``: int 1..``MAX_PER_BUYER``; ``units``: int
  1..``MAX_SALE_UNITS``
- ``price``: int minor units 0..``MAX_PRICE``; ``currency``: three uppercase letters
- ``stock``: int 0..``MAX_STOCK``; stock added: int 1..``MAX_STOCK``
- times: int milliseconds since the Unix epoch, 0..``MAX_TIME_MS``
- a sale's ``hold_seconds``: int ``MIN_HOLD_SECONDS``..``MAX_HOLD_SECONDS``; ``policy``:
  ``hold`` or ``first_paid``
- a client address: 1-64 characters ``[0-9A-Fa-f.:/]`` (an IPv4 address, or an IPv6
  /64 prefix), or ``""`` when the buyer is signed in
- ``card``: 12-19 digits passing the Luhn check
- ids (room, product, reservation, buyer): 1-128 printable characters without spaces,
  braces or control characters (braces would break the Redis hash tag)
- orders cursor (``last_id``): a Redis stream id, ``<ms>`` or ``<ms>-<seq>``
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from livecart.checkout import bounds
from livecart.checkout.errors import CheckoutError
from livecart.display_names import is_display_name
from livecart.limits import (
    MAX_DISPLAY_NAME,
    MAX_HOLD_SECONDS,
    MAX_KEY_LEN,
    MAX_PER_BUYER,
    MAX_PRICE,
    MAX_QTY,
    MAX_SALE_UNITS,
    MAX_TIME_MS,
    MIN_HOLD_SECONDS,
    MIN_KEY_LEN,
)
from livecart.text import LONE_SURROGATE, has_lone_surrogate

CHANNELS = ("live", "replay")
"""Where a buy comes from: the live show, or its replay (``docs/checkout.md``)."""

_KEY = re.compile(rf"[A-Za-z0-9_-]{{{MIN_KEY_LEN},{MAX_KEY_LEN}}}")
_ID = re.compile(r"[!-z|~]{1,128}")  # printable ASCII without space, '{' and '}'
_CURRENCY = re.compile(r"[A-Z]{3}")
_CARD = re.compile(r"[0-9]{12,19}")
_ADDRESS = re.compile(r"[0-9A-Fa-f.:/]{1,64}")
_STREAM_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")


def bad(field: str, problem: str) -> CheckoutError:
    return CheckoutError("bad_args", f"{field}: {problem}")


def integer(value: object, field: str, low: int, high: int) -> int:
    """An ``int`` (not a bool, not a float) with ``low <= value <= high``."""
    if type(value) is not int:
        raise bad(field, f"must be an integer from {low} to {high}")
    if not low <= value <= high:
        raise bad(field, f"must be from {low} to {high}")
    return value


def identifier(value: object, field: str) -> str:
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise bad(field, "must be 1-128 printable characters without spaces or braces")
    return value


def idempotency_key(value: object, field: str = "key") -> str:
    if not isinstance(value, str) or _KEY.fullmatch(value) is None:
        raise bad(field, f"must be {MIN_KEY_LEN}-{MAX_KEY_LEN} characters from A-Z a-z 0-9 _ -")
    return value


def display_name(value: object, field: str = "buyer_name") -> str:
    """A buyer's name by the display-name rule: already in the form the text rules leave
    (``livecart.text.normalize``: NFKC, no invisible characters); ``bad_args`` otherwise,
    saying so for a lone surrogate."""
    if isinstance(value, str) and has_lone_surrogate(value):
        raise bad(field, LONE_SURROGATE)
    if not is_display_name(value):
        raise bad(field, f"must be 1-{MAX_DISPLAY_NAME} printable characters")
    return value


def currency_code(value: object, field: str = "currency") -> str:
    if not isinstance(value, str) or _CURRENCY.fullmatch(value) is None:
        raise bad(field, "must be three uppercase letters (ISO 4217)")
    return value


def card_number(value: object, field: str = "card") -> str:
    if not isinstance(value, str) or _CARD.fullmatch(value) is None:
        raise bad(field, "must be 12-19 digits")
    if not _luhn_ok(value):
        raise bad(field, "is not a valid card number")
    return value


def client_address(value: object, field: str = "address") -> str:
    if value == "":
        return ""
    if not isinstance(value, str) or _ADDRESS.fullmatch(value) is None:
        raise bad(field, "must be an IP address or network, or empty")
    return value


def stream_id(value: object, field: str = "last_id") -> str:
    if not isinstance(value, str) or _STREAM_ID.fullmatch(value) is None:
        raise bad(field, "must be a stream id like 1763760000000-0")
    return value


def sale_policy(value: object, field: str = "policy") -> str:
    if value is None:
        return "hold"
    if value not in bounds.POLICIES:
        raise bad(field, "must be " + " or ".join(bounds.POLICIES))
    return str(value)


def optional_time(value: object, field: str) -> int | None:
    if value is None:
        return None
    return integer(value, field, 0, MAX_TIME_MS)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class BuyRequest:
    """A validated ``buy``: which product, for whom, how many, under which idempotency key."""

    room: str
    product_id: str
    buyer_vid: str
    buyer_name: str
    qty: int
    key: str
    address: str = ""
    channel: str = "live"
    """``live``, or ``replay``: bought while watching a recording, at list price."""

    @classmethod
    def parse(
        cls,
        room: object,
        product_id: object,
        buyer_vid: object,
        buyer_name: object,
        qty: object,
        key: object,
        address: object = "",
        channel: object = "live",
    ) -> BuyRequest:
        """Validate raw values into a request. Raises ``CheckoutError(bad_args)``, naming
        the field."""
        if channel not in CHANNELS:
            raise bad("channel", "must be live or replay")
        return cls(
            room=identifier(room, "room"),
            product_id=identifier(product_id, "product_id"),
            buyer_vid=identifier(buyer_vid, "buyer_vid"),
            buyer_name=display_name(buyer_name),
            qty=integer(qty, "qty", 1, MAX_QTY),
            key=idempotency_key(key),
            address=client_address(address),
            channel=str(channel),
        )

    def fingerprint(self) -> str:
        """What must match for a repeated key to count as the same purchase.

        The display name is left out: a buyer who renames between a send and its retry is
        still making the same purchase.
        """
        replay = ("replay",) if self.channel == "replay" else ()  # live keys as before
        return _fingerprint("buy", self.product_id, self.buyer_vid, self.qty, *replay)

    def reserve_args(
        self, reservation_id: str, hold_ms: int, per_address: int
    ) -> tuple[str | int, ...]:
        """``reserve.lua``'s own arguments (its ARGV[3..14]) for this buy."""
        return (self.key, self.fingerprint(), reservation_id, self.product_id, self.buyer_vid,
                self.buyer_name, self.qty, hold_ms, self.room, self.address,
                per_address, self.channel)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PayRequest:
    """A validated ``pay``: the reservation, its buyer, the card and the idempotency key."""

    room: str
    reservation_id: str
    buyer_vid: str
    card: str
    key: str

    @classmethod
    def parse(
        cls, room: object, reservation_id: object, buyer_vid: object, card: object, key: object
    ) -> PayRequest:
        """Validate raw values into a request. Raises ``CheckoutError(bad_args)``, naming
        the field."""
        return cls(
            room=identifier(room, "room"),
            reservation_id=identifier(reservation_id, "reservation_id"),
            buyer_vid=identifier(buyer_vid, "buyer_vid"),
            card=card_number(card),
            key=idempotency_key(key),
        )

    def fingerprint(self) -> str:
        """Reservation, buyer and the card's length and last four digits.

        The full card number never reaches Redis, not even hashed (a hash of a 16-digit
        card number is cheap to reverse). The price: a retry of the same key with another
        card ending in the same four digits replays the first outcome.
        """
        return _fingerprint(
            "pay", self.reservation_id, self.buyer_vid, len(self.card), self.card[-4:]
        )

    def __repr__(self) -> str:  # never print the card number
        return (
            f"PayRequest(room={self.room!r}, reservation_id={self.reservation_id!r}, "
            f"buyer_vid={self.buyer_vid!r}, card='…{self.card[-4:]}', key={self.key!r})"
        )


@dataclass(frozen=True, slots=True)
class SaleRequest:
    """A validated flash sale: product, price, units, per-buyer limit, window, hold and policy."""

    room: str
    product_id: str
    price: int
    currency: str
    units: int
    limit: int
    opens_at: int | None
    ends_at: int | None
    hold_seconds: int | None = None
    policy: str = "hold"

    @classmethod
    def parse(
        cls,
        room: object,
        product_id: object,
        *,
        price: object,
        currency: object,
        units: object,
        limit: object,
        opens_at: object,
        ends_at: object,
        now_ms: int,
        hold_seconds: object = None,
        policy: object = None,
    ) -> SaleRequest:
        """``ends_at`` must lie in the future and after ``opens_at``; ``opens_at`` in the
        past simply means "open now"."""
        req = cls(
            room=identifier(room, "room"),
            product_id=identifier(product_id, "product_id"),
            price=integer(price, "price", 0, MAX_PRICE),
            currency=currency_code(currency),
            units=integer(units, "units", 1, MAX_SALE_UNITS),
            limit=integer(limit, "limit", 1, MAX_PER_BUYER),
            opens_at=optional_time(opens_at, "opens_at"),
            ends_at=optional_time(ends_at, "ends_at"),
            hold_seconds=None
            if hold_seconds is None
            else integer(hold_seconds, "hold_seconds", MIN_HOLD_SECONDS, MAX_HOLD_SECONDS),
            policy=sale_policy(policy),
        )
        if req.ends_at is not None:
            if req.ends_at <= now_ms:
                raise bad("ends_at", "must be in the future")
            if req.opens_at is not None and req.ends_at <= req.opens_at:
                raise bad("ends_at", "must be after opens_at")
        return req
