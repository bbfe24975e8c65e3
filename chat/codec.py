"""The two wire formats: ``livecart.v1.json`` and ``livecart.v1.msgpack``.

``decode`` turns a client frame into a plain dict or raises ``ProtocolError``; it never
raises anything else, whatever the bytes. ``encode_frame`` turns a server object into a
ready-to-write WebSocket frame. Pure; no I/O.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

import msgpack

from livecart.chat.errors import ProtocolError
from livecart.wsframe import OP_BINARY, OP_TEXT, build_frame


class WireFormat(StrEnum):
    """A WebSocket subprotocol the server speaks: JSON text frames or MessagePack binary
    frames, the same messages in either (docs/protocol.md)."""

    JSON = "livecart.v1.json"
    MSGPACK = "livecart.v1.msgpack"


SUBPROTOCOLS = (WireFormat.JSON.value, WireFormat.MSGPACK.value)

AUTH_PROTOCOL_PREFIX = "livecart.auth."
"""A host joins by offering ``livecart.auth.<host token>`` among its subprotocols
(besides its wire format); the server never selects it, and the token never rides in a
URL (docs/protocol.md, "Connecting")."""


def auth_protocol(token: str) -> str:
    return AUTH_PROTOCOL_PREFIX + token


def offered_token(offered: str) -> str | None:
    """The host token in a ``Sec-WebSocket-Protocol`` header's value, or None."""
    for item in offered.split(","):
        item = item.strip()
        if item.startswith(AUTH_PROTOCOL_PREFIX):
            return item[len(AUTH_PROTOCOL_PREFIX) :] or None
    return None


_json_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_json(obj: Any) -> bytes:
    # "replace": a lone surrogate that reached a stored value before the text rules
    # refused them becomes "?" instead of making the frame unencodable.
    return _json_encoder.encode(obj).encode("utf-8", "replace")


def encode_msgpack(obj: Any) -> bytes:
    packed: bytes = msgpack.packb(obj, use_bin_type=True, unicode_errors="replace")
    return packed


# A JSON escape of a surrogate (``\ud800``-``\udfff``): only then can a decoded string
# hold a lone one. MessagePack strings are decoded as strict UTF-8, which has none.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def holds_lone_surrogate(obj: Any) -> bool:
    """Whether any string in ``obj`` (keys too, at any depth) holds a lone surrogate."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def encode_frame(fmt: WireFormat, obj: Any) -> bytes:
    """One WebSocket frame: a text frame for JSON, a binary frame for msgpack."""
    if fmt is WireFormat.JSON:
        return build_frame(OP_TEXT, encode_json(obj))
    return build_frame(OP_BINARY, encode_msgpack(obj))


def decode(fmt: WireFormat, data: str | bytes) -> dict[str, Any]:
    """Decode one client frame into a dict.

    Raises ``ProtocolError`` for invalid JSON or msgpack (a MessagePack string that is
    not UTF-8 included), a JSON string holding a lone surrogate (``"\\ud800"``), a frame
    of the other format's type (text on msgpack, binary on JSON), or anything that is
    not an object.
    """
    obj: Any
    if fmt is WireFormat.JSON:
        if not isinstance(data, str):
            raise ProtocolError("binary frame on the JSON subprotocol")
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError("invalid JSON") from exc
        if _SURROGATE_ESCAPE.search(data) and holds_lone_surrogate(obj):
            raise ProtocolError("a string holds a lone surrogate (U+D800-U+DFFF)")
    else:
        if not isinstance(data, bytes):
            raise ProtocolError("text frame on the msgpack subprotocol")
        try:
            obj = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (ValueError, TypeError, RecursionError) as exc:
            # ExtraData, FormatError and StackError are ValueErrors; an unhashable map key
            # is a TypeError.
            raise ProtocolError("invalid MessagePack") from exc
    if not isinstance(obj, dict):
        raise ProtocolError("a frame must be an object")
    return obj
