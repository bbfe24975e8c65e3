"""Client commands as small frozen dataclasses that validate themselves.

``parse_command(obj)`` maps a decoded frame to one of the classes below or raises
``CommandError`` (``bad_command`` for an unknown ``cmd``, ``bad_args`` naming the field
for anything missing, mistyped or out of range). Host-only commands carry
``HOST_ONLY = True``; whether the sender may run them is the hub's decision, not the
parser's. ``PARSERS`` maps every ``cmd`` to its class's ``parse``: a command is named
once, by its class's ``NAME``, and every list of commands (``COMMANDS``, the HTTP API's
``CommandName``, the fuzz tests, the metrics labels) derives from that table. Checkout,
auction and giveaway commands (``CheckoutCommand``: ``buy``, ``pay``, ``open_sale``...)
keep their fields as sent: the checkout package validates them. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from livecart.chat import events as ev
from livecart.chat.errors import CommandError, ErrorCode
from livecart.limits import (
    MAX_BANNED_WORD_LEN,
    MAX_BANNED_WORDS,
    MAX_BUYER_SUB_LEN,
    MAX_BUYER_TOKEN_LEN,
    MAX_COMMAND_ID_LEN,
    MAX_HEARTS,
    MAX_IMAGE_URL_LEN,
    MAX_LANG_TAG_LEN,
    MAX_LINEUP,
    MAX_PRICE,
    MAX_PRODUCT_ID_LEN,
    MAX_PRODUCT_NAME_LEN,
    MAX_SLOW_MODE_S,
    MAX_STOCK,
)
from livecart.text import TextRefused, normalize

# Patterns shared with the HTTP API's declared bodies (web/schemas.py); the limits are
# livecart.limits'.
PRODUCT_ID = rf"^[A-Za-z0-9_-]{{1,{MAX_PRODUCT_ID_LEN}}}$"
CURRENCY = r"^[A-Z]{3}$"
_PRODUCT_ID = re.compile(PRODUCT_ID)
_VID = re.compile(r"^v[A-Za-z0-9_-]{6,40}$")
_BUYER = re.compile(rf"^u:[!-z|~]{{1,{MAX_BUYER_SUB_LEN}}}$")  # a shop account (chat.buyer_tokens)
_CURRENCY = re.compile(CURRENCY)
ROOM_STATUSES = ("scheduled", "live", "ended")
# A BCP 47 language tag, simplified: "en", "zh-CN", "zh-Hans-CN" (at most MAX_LANG_TAG_LEN).
LANG_TAG = re.compile(
    rf"^(?=.{{2,{MAX_LANG_TAG_LEN}}}$)[A-Za-z]{{2,3}}(-[A-Za-z0-9]{{2,8}}){{0,2}}$"
)


def _bad(field: str, why: str) -> CommandError:
    return CommandError(ErrorCode.BAD_ARGS, f"{field}: {why}")


def text_field(obj: dict[str, Any], field: str, lo: int, hi: int) -> str:
    """A text field normalized by ``livecart.text`` (NFKC, invisible characters removed,
    marks bounded), trimmed, ``lo``-``hi`` characters without control characters;
    ``bad_args`` naming ``field`` otherwise (also for a lone surrogate)."""
    value = obj.get(field)
    if not isinstance(value, str):
        raise _bad(field, "must be a string")
    try:
        value = normalize(value).strip()
    except TextRefused as exc:
        raise _bad(field, exc.reason) from exc
    if not lo <= len(value) <= hi:
        raise _bad(field, f"must be {lo}-{hi} characters")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise _bad(field, "must not contain control characters")
    return value


def _int(obj: dict[str, Any], field: str, lo: int, hi: int, default: int | None = None) -> int:
    value = obj.get(field, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(field, "must be an integer")
    if not lo <= value <= hi:
        raise _bad(field, f"must be between {lo} and {hi}")
    return value


def _product_id(obj: dict[str, Any], field: str = "product_id") -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not _PRODUCT_ID.fullmatch(value):
        raise _bad(field, "must be a product id")
    return value


def _vid(obj: dict[str, Any]) -> str:
    value = obj.get("vid")
    if not isinstance(value, str) or not (_VID.fullmatch(value) or _BUYER.fullmatch(value)):
        raise _bad("vid", "must be a viewer id or a buyer id (u:<sub>)")
    return value


def _image_url(obj: dict[str, Any]) -> str:
    url = text_field(obj, "image_url", 0, MAX_IMAGE_URL_LEN)
    if url and not (url.startswith(("https://", "http://")) or url.startswith("/")):
        raise _bad("image_url", "must be an http(s) URL or a path on this server")
    return url


def _text(obj: dict[str, Any]) -> str:
    text = obj.get("text")
    if not isinstance(text, str):
        raise _bad("text", "must be a string")
    return text


def _currency(obj: dict[str, Any]) -> str:
    value = obj.get("currency")
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise _bad("currency", "must be a 3-letter ISO 4217 code")
    return value


def _lineup(obj: dict[str, Any]) -> tuple[str, ...]:
    lineup = obj.get("lineup")
    if not isinstance(lineup, list) or len(lineup) > MAX_LINEUP:
        raise _bad("lineup", "must be a list of product ids")
    ids = tuple(_product_id({"p": p}, "p") for p in lineup)
    if len(set(ids)) != len(ids):
        raise _bad("lineup", "lists a product twice")
    return ids


def _words(obj: dict[str, Any]) -> tuple[str, ...]:
    words = obj.get("words")
    if not isinstance(words, list) or len(words) > MAX_BANNED_WORDS:
        raise _bad("words", f"must be a list of at most {MAX_BANNED_WORDS} words")
    cleaned = tuple(
        text_field({"words": w}, "words", 1, MAX_BANNED_WORD_LEN).lower() for w in words
    )
    return tuple(dict.fromkeys(cleaned))


def _lang(obj: dict[str, Any]) -> str:
    lang = obj.get("lang")
    if not isinstance(lang, str) or not (lang == "" or LANG_TAG.fullmatch(lang)):
        raise _bad("lang", "must be a language tag such as zh-CN, or empty")
    return lang


def _status(obj: dict[str, Any]) -> str:
    status = obj.get("status")
    if status not in ROOM_STATUSES:
        raise _bad("status", f"must be one of {', '.join(ROOM_STATUSES)}")
    return str(status)


def _token(obj: dict[str, Any]) -> str:
    token = obj.get("token")
    if not isinstance(token, str) or not 1 <= len(token) <= MAX_BUYER_TOKEN_LEN:
        raise _bad("token", f"must be a string of 1-{MAX_BUYER_TOKEN_LEN} characters")
    return token


@dataclass(frozen=True, slots=True)
class Command:
    """A client command. ``NAME`` is its ``cmd`` (named here only: ``PARSERS`` and every
    list of commands derive from it); ``parse`` builds it from a decoded frame."""

    HOST_ONLY: ClassVar[bool] = False
    NAME: ClassVar[str] = ""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The ``cmd`` values this class is parsed from."""
        return (cls.NAME,)

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Command:
        """The command of a frame whose ``cmd`` is one of ``names()``. Raises
        ``CommandError`` (``bad_args``)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Chat(Command):
    """``chat``: a chat message from a viewer or the host. The text is kept as sent; the chat
    rules normalize and check it (length, control characters, banned words, rate, slow
    mode, mute)."""

    NAME: ClassVar[str] = "chat"
    text: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Chat:
        """``text`` must be a string; ``bad_args`` otherwise."""
        return cls(_text(obj))


@dataclass(frozen=True, slots=True)
class Heart(Command):
    """``heart``: ``n`` hearts tapped since the sender's previous ``heart``
    (1-``MAX_HEARTS``)."""

    NAME: ClassVar[str] = "heart"
    n: int

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Heart:
        """``n`` defaults to 1; ``bad_args`` unless it is an integer in 1-``MAX_HEARTS``."""
        return cls(_int(obj, "n", 1, MAX_HEARTS, default=1))


@dataclass(frozen=True, slots=True)
class Explain(Command):
    """``explain``: a viewer asks the host to explain a product (the "explain this" queue)."""

    NAME: ClassVar[str] = "explain"
    product_id: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Explain:
        """``bad_args`` unless ``product_id`` is a product id."""
        return cls(_product_id(obj))


@dataclass(frozen=True, slots=True)
class Ping(Command):
    """``ping``: a liveness probe; the reply carries the server's time."""

    NAME: ClassVar[str] = "ping"

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Ping:
        """Takes no fields (any others are ignored); never raises."""
        return cls()


@dataclass(frozen=True, slots=True)
class AddProduct(Command):
    """``add_product``: the host adds a product to the lineup with its initial stock (host
    only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "add_product"
    name: str
    price: int
    currency: str
    image_url: str
    stock: int

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> AddProduct:
        """``name`` (1-``MAX_PRODUCT_NAME_LEN`` characters), ``price`` (0-``MAX_PRICE``,
        minor units), ``currency`` (3 uppercase letters), ``image_url`` (optional, "" when
        absent) and ``stock`` (0-``MAX_STOCK``); ``bad_args`` naming the first field that
        fails."""
        return cls(
            name=text_field(obj, "name", 1, MAX_PRODUCT_NAME_LEN),
            price=_int(obj, "price", 0, MAX_PRICE),
            currency=_currency(obj),
            image_url=_image_url(obj) if "image_url" in obj else "",
            stock=_int(obj, "stock", 0, MAX_STOCK),
        )


PRODUCT_FIELDS: Mapping[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda obj: text_field(obj, "name", 1, MAX_PRODUCT_NAME_LEN),
    "price": lambda obj: _int(obj, "price", 0, MAX_PRICE),
    "currency": _currency,
    "image_url": _image_url,
}
"""What ``update_product`` may change, and each field's parser."""


@dataclass(frozen=True, slots=True)
class UpdateProduct(Command):
    """``update_product``: the host edits a product's name, price, currency or image (host
    only; stock is not editable). ``changes`` holds (field, parsed value) in
    ``PRODUCT_FIELDS``' order."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "update_product"
    product_id: str
    changes: tuple[tuple[str, Any], ...]

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> UpdateProduct:
        """Every field of ``PRODUCT_FIELDS`` present in the frame, each checked by its
        parser; ``bad_args`` for a bad one, or (``fields``) when none is present."""
        changes = tuple((f, parse(obj)) for f, parse in PRODUCT_FIELDS.items() if f in obj)
        if not changes:
            raise _bad("fields", "nothing to change")
        return cls(_product_id(obj), changes)


@dataclass(frozen=True, slots=True)
class Reorder(Command):
    """``reorder``: the host sets the lineup order, every product id once (host only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "reorder"
    lineup: tuple[str, ...]

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Reorder:
        """``bad_args`` unless ``lineup`` is a list of at most ``MAX_LINEUP`` distinct
        product ids."""
        return cls(_lineup(obj))


@dataclass(frozen=True, slots=True)
class Pin(Command):
    """``pin``: the host pins a product (``None``: unpins), clearing its explain requests
    (host only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "pin"
    product_id: str | None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Pin:
        """A missing or ``null`` ``product_id`` unpins; anything else must be a product id
        (``bad_args``)."""
        return cls(None if obj.get("product_id") is None else _product_id(obj))


@dataclass(frozen=True, slots=True)
class Dismiss(Command):
    """``dismiss``: the host clears a product's explain requests (host only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "dismiss"
    product_id: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Dismiss:
        """``bad_args`` unless ``product_id`` is a product id."""
        return cls(_product_id(obj))


@dataclass(frozen=True, slots=True)
class Delete(Command):
    """``delete``: the host deletes chat message ``message_id`` (its ``seq``) (host only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "delete"
    message_id: int

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Delete:
        """``bad_args`` unless ``message_id`` is an integer from 1 to 2**62."""
        return cls(_int(obj, "message_id", 1, 2**62))


@dataclass(frozen=True, slots=True)
class Moderate(Command):
    """``mute``, ``unmute``, ``ban`` or ``unban`` (the actions of ``events.MODERATION``)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "moderate"
    action: str
    vid: str

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """``mute``, ``unmute``, ``ban`` and ``unban``: one class for the four ``cmd``
        values."""
        return MODERATION

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Moderate:
        """The ``cmd`` becomes ``action``; ``vid`` must be a viewer id or a buyer id
        ``u:<sub>`` (``bad_args``)."""
        return cls(str(obj["cmd"]), _vid(obj))


@dataclass(frozen=True, slots=True)
class SlowMode(Command):
    """``slow_mode``: the host sets the seconds between a viewer's messages, 0 turning it off
    (host only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "slow_mode"
    seconds: int

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> SlowMode:
        """``bad_args`` unless ``seconds`` is an integer in 0-``MAX_SLOW_MODE_S``."""
        return cls(_int(obj, "seconds", 0, MAX_SLOW_MODE_S))


@dataclass(frozen=True, slots=True)
class BannedWords(Command):
    """``banned_words``: the host replaces the room's banned words (host only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "banned_words"
    words: tuple[str, ...]

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> BannedWords:
        """At most ``MAX_BANNED_WORDS`` words of 1-``MAX_BANNED_WORD_LEN`` characters each,
        normalized like chat text and lowercased, duplicates dropped in order;
        ``bad_args`` otherwise."""
        return cls(_words(obj))


@dataclass(frozen=True, slots=True)
class SetLang(Command):
    """The room's default page language (a BCP 47 tag, or "" for none)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "set_lang"
    lang: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> SetLang:
        """``bad_args`` unless ``lang`` is a language tag (``LANG_TAG``) or ""."""
        return cls(_lang(obj))


@dataclass(frozen=True, slots=True)
class SetStatus(Command):
    """``status``: the host sets the room's status: ``scheduled``, ``live`` or ``ended``
    (host only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "status"
    status: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> SetStatus:
        """``bad_args`` unless ``status`` is one of ``ROOM_STATUSES``."""
        return cls(_status(obj))


@dataclass(frozen=True, slots=True)
class BuyerAuth(Command):
    """A buyer token (a JWT from the shop's login) for this connection; the hub
    verifies it."""

    NAME: ClassVar[str] = "buyer_auth"
    token: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> BuyerAuth:
        """``bad_args`` unless ``token`` is a string of 1-``MAX_BUYER_TOKEN_LEN`` characters;
        its signature and claims are the hub's to check."""
        return cls(_token(obj))


# -- checkout, auctions, giveaways ------------------------------------------------------


def _wire(name: str, default: object = None) -> Any:
    """A checkout command's field read from the frame's ``name``, ``default`` when the
    frame has none."""
    return field(default=default, metadata={"wire": name})


@dataclass(frozen=True, slots=True)
class CheckoutCommand(Command):
    """A command the checkout port runs (``Decision.checkout``). Its fields hold the
    frame's values as sent (a field the frame lacks holds its default): checkout
    validates them, with its own rules and error messages (docs/checkout.md,
    docs/auctions.md), since chat imports no other part."""

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> CheckoutCommand:
        """Each field from the frame's key of the same name (or its ``wire`` name), as sent,
        or its default when absent; never raises (checkout validates)."""
        wire = {f.name: f.metadata.get("wire", f.name) for f in fields(cls)}
        return cls(**{name: obj[key] for name, key in wire.items() if key in obj})


@dataclass(frozen=True, slots=True)
class Buy(CheckoutCommand):
    """``buy``: a viewer reserves ``qty`` units of a product on sale, once per idempotency
    ``key``; ``channel`` is ``live`` or ``replay`` (docs/checkout.md)."""

    NAME: ClassVar[str] = "buy"
    product_id: object = None
    qty: object = None
    key: object = None
    channel: object = "live"


@dataclass(frozen=True, slots=True)
class Pay(CheckoutCommand):
    """``pay``: a viewer pays for a reservation with ``card``, once per idempotency ``key``
    (docs/checkout.md)."""

    NAME: ClassVar[str] = "pay"
    reservation_id: object = None
    card: object = None
    key: object = None


@dataclass(frozen=True, slots=True)
class OpenSale(CheckoutCommand):
    """``open_sale``: the host opens a flash sale on a product, now or at ``opens_at``, with
    its price, units, per-buyer limit, hold time and policy (host only; docs/checkout.md)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "open_sale"
    product_id: object = None
    price: object = None
    currency: object = None
    units: object = None
    limit: object = None
    opens_at: object = None
    ends_at: object = None
    hold_seconds: object = None
    policy: object = None


@dataclass(frozen=True, slots=True)
class CloseSale(CheckoutCommand):
    """``close_sale``: the host closes a product's flash sale (host only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "close_sale"
    product_id: object = None


@dataclass(frozen=True, slots=True)
class StartAuction(CheckoutCommand):
    """``start_auction``: the host starts an auction on one unit of a product (host only;
    docs/auctions.md)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "start_auction"
    product_id: object = None
    start_price: object = None
    duration: object = None
    counter_seconds: object = 10
    sudden_death: object = False
    reserve: object = None
    increments: object = None
    key: object = None


@dataclass(frozen=True, slots=True)
class CancelAuction(CheckoutCommand):
    """``cancel_auction``: the host cancels an auction that has no bid yet (host only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "cancel_auction"
    auction_id: object = None


@dataclass(frozen=True, slots=True)
class Bid(CheckoutCommand):
    """``bid``: a viewer bids on an auction up to ``max_bid`` (the frame's ``max``), once per
    idempotency ``key``, optionally saving a ``card`` to be charged if it wins (not the
    host)."""

    NAME: ClassVar[str] = "bid"
    auction_id: object = None
    max_bid: object = _wire("max")
    key: object = None
    card: object = None


@dataclass(frozen=True, slots=True)
class StartGiveaway(CheckoutCommand):
    """``start_giveaway``: the host opens a giveaway of a product to viewers who watched,
    chatted or bought, drawn after ``duration`` seconds (host only)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "start_giveaway"
    product_id: object = None
    rule: object = None
    watched_seconds: object = None
    duration: object = None


MODERATION = tuple(ev.MODERATION)
_CLASSES: tuple[type[Command], ...] = (
    Chat, Heart, Explain, Ping, AddProduct, UpdateProduct, Reorder, Pin, Dismiss, Delete,
    Moderate, SlowMode, BannedWords, SetLang, SetStatus, Buy, Pay, OpenSale, CloseSale,
    BuyerAuth, Bid, StartAuction, CancelAuction, StartGiveaway,
)  # fmt: skip
PARSERS: Mapping[str, Callable[[dict[str, Any]], Command]] = {
    name: cls.parse for cls in _CLASSES for name in cls.names()
}
"""Every ``cmd`` the server knows, and its parser: the one list of command names."""
COMMANDS = tuple(PARSERS)
COMMAND_NAMES = frozenset(PARSERS)
"""Every ``cmd`` that ``parse_command`` accepts."""


def parse_command(obj: dict[str, Any]) -> Command:
    """Validate a decoded frame and return its command. Raises ``CommandError``."""
    name = obj.get("cmd")
    if not isinstance(name, str):
        raise CommandError(ErrorCode.BAD_COMMAND, "cmd is missing")
    parse = PARSERS.get(name)
    if parse is None:
        raise CommandError(ErrorCode.BAD_COMMAND, f"unknown command {name[:40]!r}")
    return parse(obj)


_SINCE = re.compile(r"[0-9]{1,18}")


def parse_since(raw: str | None) -> int | None:
    """The join's ``since`` query parameter: ASCII digits, at most 18 of them; anything
    else (``"²"``, ``"-1"``, 5,000 digits) counts as absent, so the join gets a fresh
    snapshot (docs/protocol.md, "Connecting")."""
    if raw is None or not _SINCE.fullmatch(raw):
        return None
    return int(raw)


def command_id(obj: dict[str, Any]) -> int | str | None:
    """The client's id for the reply, or None when it is missing or unusable."""
    value = obj.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and -(2**53) <= value <= 2**53:
        return value
    if isinstance(value, str) and len(value) <= MAX_COMMAND_ID_LEN:
        return value
    return None


def is_host_only(command: Command) -> bool:
    return command.HOST_ONLY


def command_label(command: Command) -> str:
    """The ``cmd`` a parsed command came from (``mute``, ``buy``...): a metrics label."""
    return command.action if isinstance(command, Moderate) else command.NAME


def frame_label(obj: dict[str, Any]) -> str:
    """A frame's ``cmd`` as a metrics label: one of ``COMMAND_NAMES``, else ``invalid``
    (so that a client cannot add label values)."""
    name = obj.get("cmd")
    return name if isinstance(name, str) and name in COMMAND_NAMES else "invalid"
