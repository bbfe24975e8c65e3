"""Client commands as small frozen dataclasses that validate themselves.

``parse_command(obj)`` maps a decoded frame to one of the classes below or raises
``CommandError`` (``bad_command`` for an unknown ``cmd``, ``bad_args`` naming the field
for anything missing, mistyped or out of range). Host-only commands carry
``HOST_ONLY = True``; whether the sender may run them is the hub's decision, not the
parser's. Checkout commands (``buy``, ``pay``, ``open_sale``, ``close_sale``) are parsed
into ``CheckoutCommand`` with their raw arguments: the checkout package validates them.
Pure; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

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


@dataclass(frozen=True, slots=True)
class Command:
    HOST_ONLY: ClassVar[bool] = False
    NAME: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class Chat(Command):
    NAME: ClassVar[str] = "chat"
    text: str


@dataclass(frozen=True, slots=True)
class Heart(Command):
    NAME: ClassVar[str] = "heart"
    n: int


@dataclass(frozen=True, slots=True)
class Explain(Command):
    NAME: ClassVar[str] = "explain"
    product_id: str


@dataclass(frozen=True, slots=True)
class Ping(Command):
    NAME: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class AddProduct(Command):
    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "add_product"
    name: str
    price: int
    currency: str
    image_url: str
    stock: int


@dataclass(frozen=True, slots=True)
class UpdateProduct(Command):
    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "update_product"
    product_id: str
    changes: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Reorder(Command):
    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "reorder"
    lineup: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Pin(Command):
    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "pin"
    product_id: str | None


@dataclass(frozen=True, slots=True)
class Dismiss(Command):
    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "dismiss"
    product_id: str


@dataclass(frozen=True, slots=True)
class Delete(Command):
    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "delete"
    message_id: int


@dataclass(frozen=True, slots=True)
class Moderate(Command):
    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "moderate"
    action: str
    vid: str


@dataclass(frozen=True, slots=True)
class SlowMode(Command):
    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "slow_mode"
    seconds: int


@dataclass(frozen=True, slots=True)
class BannedWords(Command):
    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "banned_words"
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetLang(Command):
    """The room's default page language (a BCP 47 tag, or "" for none)."""

    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "set_lang"
    lang: str


@dataclass(frozen=True, slots=True)
class SetStatus(Command):
    HOST_ONLY: ClassVar[bool] = True
    NAME: ClassVar[str] = "status"
    status: str


@dataclass(frozen=True, slots=True)
class BuyerAuth(Command):
    """A buyer token (a JWT from the shop's login) for this connection; the hub
    verifies it."""

    NAME: ClassVar[str] = "buyer_auth"
    token: str


@dataclass(frozen=True, slots=True)
class CheckoutCommand(Command):
    """``buy``/``pay``/``bid`` (anyone) and ``open_sale``/``close_sale`` and the auction
    and giveaway commands (host): raw arguments."""

    name: str
    args: dict[str, Any]

    @property
    def host_only(self) -> bool:
        return self.name in HOST_CHECKOUT_COMMANDS


HOST_CHECKOUT_COMMANDS = (
    "open_sale", "close_sale", "start_auction", "cancel_auction", "start_giveaway",
)  # fmt: skip
CHECKOUT_COMMANDS = ("buy", "pay", "bid", *HOST_CHECKOUT_COMMANDS)
MODERATION = ("mute", "unmute", "ban", "unban")
_PLAIN = (Chat, Heart, Explain, Ping, AddProduct, UpdateProduct, Reorder, Pin, Dismiss,
          Delete, SlowMode, BannedWords, SetLang, SetStatus, BuyerAuth)  # fmt: skip
# every ``cmd`` that ``parse_command`` knows
COMMANDS = (*(cls.NAME for cls in _PLAIN), *MODERATION, *CHECKOUT_COMMANDS)
PRODUCT_FIELDS = ("name", "price", "currency", "image_url")


def _product_fields(obj: dict[str, Any], field: str) -> Any:
    if field == "name":
        return text_field(obj, "name", 1, MAX_PRODUCT_NAME_LEN)
    if field == "price":
        return _int(obj, "price", 0, MAX_PRICE)
    if field == "currency":
        value = obj.get("currency")
        if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
            raise _bad("currency", "must be a 3-letter ISO 4217 code")
        return value
    return _image_url(obj)


def parse_command(obj: dict[str, Any]) -> Command:  # noqa: C901 (being rewritten as a table)
    """Validate a decoded frame and return its command. Raises ``CommandError``."""
    name = obj.get("cmd")
    if not isinstance(name, str):
        raise CommandError(ErrorCode.BAD_COMMAND, "cmd is missing")
    if name == "chat":
        text = obj.get("text")
        if not isinstance(text, str):
            raise _bad("text", "must be a string")
        return Chat(text)
    if name == "heart":
        return Heart(_int(obj, "n", 1, MAX_HEARTS, default=1))
    if name == "explain":
        return Explain(_product_id(obj))
    if name == "ping":
        return Ping()
    if name == "add_product":
        return AddProduct(
            name=text_field(obj, "name", 1, MAX_PRODUCT_NAME_LEN),
            price=_int(obj, "price", 0, MAX_PRICE),
            currency=_product_fields(obj, "currency"),
            image_url=_image_url(obj) if "image_url" in obj else "",
            stock=_int(obj, "stock", 0, MAX_STOCK),
        )
    if name == "update_product":
        changes = tuple((f, _product_fields(obj, f)) for f in PRODUCT_FIELDS if f in obj)
        if not changes:
            raise _bad("fields", "nothing to change")
        return UpdateProduct(_product_id(obj), changes)
    if name == "reorder":
        lineup = obj.get("lineup")
        if not isinstance(lineup, list) or len(lineup) > MAX_LINEUP:
            raise _bad("lineup", "must be a list of product ids")
        ids = tuple(_product_id({"p": p}, "p") for p in lineup)
        if len(set(ids)) != len(ids):
            raise _bad("lineup", "lists a product twice")
        return Reorder(ids)
    if name == "pin":
        return Pin(None if obj.get("product_id") is None else _product_id(obj))
    if name == "dismiss":
        return Dismiss(_product_id(obj))
    if name == "delete":
        return Delete(_int(obj, "message_id", 1, 2**62))
    if name in MODERATION:
        return Moderate(name, _vid(obj))
    if name == "slow_mode":
        return SlowMode(_int(obj, "seconds", 0, MAX_SLOW_MODE_S))
    if name == "banned_words":
        words = obj.get("words")
        if not isinstance(words, list) or len(words) > MAX_BANNED_WORDS:
            raise _bad("words", f"must be a list of at most {MAX_BANNED_WORDS} words")
        cleaned = tuple(
            text_field({"words": w}, "words", 1, MAX_BANNED_WORD_LEN).lower() for w in words
        )
        return BannedWords(tuple(dict.fromkeys(cleaned)))
    if name == "set_lang":
        lang = obj.get("lang")
        if not isinstance(lang, str) or not (lang == "" or LANG_TAG.fullmatch(lang)):
            raise _bad("lang", "must be a language tag such as zh-CN, or empty")
        return SetLang(lang)
    if name == "status":
        status = obj.get("status")
        if status not in ROOM_STATUSES:
            raise _bad("status", f"must be one of {', '.join(ROOM_STATUSES)}")
        return SetStatus(str(status))
    if name == "buyer_auth":
        token = obj.get("token")
        if not isinstance(token, str) or not 1 <= len(token) <= MAX_BUYER_TOKEN_LEN:
            raise _bad("token", f"must be a string of 1-{MAX_BUYER_TOKEN_LEN} characters")
        return BuyerAuth(token)
    if name in CHECKOUT_COMMANDS:
        return CheckoutCommand(name, {k: v for k, v in obj.items() if k not in ("id", "cmd")})
    raise CommandError(ErrorCode.BAD_COMMAND, f"unknown command {name[:40]!r}")


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
    if isinstance(command, CheckoutCommand):
        return command.host_only
    return command.HOST_ONLY


COMMAND_NAMES = frozenset(
    {cls.NAME for cls in Command.__subclasses__() if cls.NAME and cls is not Moderate}
    | set(MODERATION)
    | set(CHECKOUT_COMMANDS)
)
"""Every ``cmd`` that ``parse_command`` accepts."""


def command_label(command: Command) -> str:
    """The ``cmd`` a parsed command came from (``mute``, ``buy``...): a metrics label."""
    if isinstance(command, CheckoutCommand):
        return command.name
    if isinstance(command, Moderate):
        return command.action
    return command.NAME


def frame_label(obj: dict[str, Any]) -> str:
    """A frame's ``cmd`` as a metrics label: one of ``COMMAND_NAMES``, else ``invalid``
    (so that a client cannot add label values)."""
    name = obj.get("cmd")
    return name if isinstance(name, str) and name in COMMAND_NAMES else "invalid"
