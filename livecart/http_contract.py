"""Declared HTTP operations: what a route accepts and answers, in one object.

An ``Operation`` names a route (method and aiohttp path), its path parameters, the
``msgspec.Struct`` its JSON body decodes into, its replies (status, media type, schema)
and who may call it. The route is registered from the same object
(``app.router.add_route(op.method, op.path, handler)``), the handler decodes its body
with ``decode_json(op, raw)``, and ``livecart.openapi`` turns the operations into the
OpenAPI document: what the spec says is what the code checks.

``decode_json`` is total: any bytes at all give the body's Struct and the decoded
object, or raise ``BodyRefused`` with ``bad_frame`` (not JSON, not an object, lone
surrogates, too deep) or ``bad_args`` (a field of the wrong type, out of range, missing;
the message names it). Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

JSON = "application/json"
TEXT = "text/plain"
Security = Literal["admin", "host"]


@dataclass(frozen=True, slots=True)
class PathParam:
    """A path parameter: a JSON Schema string ``pattern`` (and what a mismatch gets)."""

    description: str
    pattern: str | None = None
    enum: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """One documented answer. ``schema`` is a Struct, a type msgspec can describe, or
    ``None`` for a body without a schema (text, or none at all)."""

    status: int
    description: str
    schema: Any = None
    media: str = JSON
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Operation:
    """One route: ``method`` and aiohttp ``path`` (``{name}`` placeholders, no regexes).

    ``body`` is the Struct a JSON body decodes into (``body_media`` another media type,
    described by ``body_text``, for non-JSON bodies such as SDP); ``security`` lists who
    may call it (either suffices; empty: anyone).
    """

    operation_id: str
    method: str
    path: str
    summary: str
    tag: str
    replies: tuple[Reply, ...]
    params: dict[str, PathParam] = field(default_factory=dict)
    body: type[msgspec.Struct] | None = None
    body_media: str = JSON
    body_text: str = ""
    body_required: bool = True
    security: tuple[Security, ...] = ()
    description: str = ""


class BodyRefused(Exception):
    """A request body that does not fit its operation: ``code`` is ``bad_frame`` or
    ``bad_args`` (docs/protocol.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_decoder = msgspec.json.Decoder()
_MISSING = re.compile(r"missing required field `([^`]{1,60})`")


def decode_json(op: Operation, raw: bytes) -> tuple[msgspec.Struct, dict[str, Any]]:
    """The body's Struct and the decoded JSON object; raises ``BodyRefused``.

    An empty body counts as ``{}`` when the operation's body is optional.
    """
    if op.body is None:
        raise TypeError(f"{op.operation_id} takes no JSON body")
    if not raw.strip() and not op.body_required:
        raw = b"{}"
    try:
        obj = _decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BodyRefused("bad_frame", "body must be a JSON object") from exc
    if not isinstance(obj, dict):
        raise BodyRefused("bad_frame", "body must be a JSON object")
    try:
        value = msgspec.convert(obj, op.body)
    except msgspec.ValidationError as exc:
        raise BodyRefused("bad_args", _field_message(str(exc))) from exc
    except RecursionError as exc:
        raise BodyRefused("bad_frame", "body is nested too deeply") from exc
    return value, obj


def _field_message(text: str) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.price``` as ``price: expected
    `int`, got `str```: the field first, as the command parser words it."""
    problem, sep, where = text.rpartition(" - at `$")
    if not sep:
        problem, where = text, ""
    name = where.rstrip("`").lstrip(".")
    missing = _MISSING.search(problem)
    if missing:
        name = f"{name}.{missing.group(1)}" if name else missing.group(1)
    return f"{(name or 'body')[:60]}: {problem[:1].lower()}{problem[1:200]}"


def fields(value: msgspec.Struct) -> dict[str, Any]:
    """The fields a client sent (``msgspec.UNSET`` ones left out), as plain data."""
    return {
        name: msgspec.to_builtins(item)
        for name, item in msgspec.structs.asdict(value).items()
        if item is not msgspec.UNSET
    }
