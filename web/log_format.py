"""Log lines an operator can use: one line per event, text or JSON, never a token.

Built on the standard library's ``logging`` alone (a ``Filter`` and two ``Formatter``
subclasses): every record already flows through it, including aiohttp's and asyncio's,
and the redaction has to see every field anyway, which is most of what a JSON logging
library would add. No I/O library is imported here.

Every record gets, by ``ContextFilter``:

- ``node`` and ``worker``: this node's ``--node-name`` and this process's index among its
  ``--workers`` (always present; ``worker`` is null on the lines of the supervisor
  process of ``--workers N``);
- ``room`` and ``request_id`` from the context variables below, set by the web layer
  for the request (HTTP) or session (WebSocket) being handled, or passed explicitly as
  ``extra={"room": ...}``. Asyncio tasks copy the context they were created in, so work
  started for a request carries that request's ids.

``JsonFormatter`` writes exactly one JSON object per record on one line::

    {"ts": "2025-05-01T18:02:03.120Z", "level": "INFO", "logger": "livecart.access",
     "msg": "GET /api/rooms 200 1.9ms", "node": "edge-1", "worker": 0,
     "request_id": "5f0c9a5e1b2d4c77", "method": "GET", "path": "/api/rooms", ...}

``room``, ``request_id`` and ``exc`` (the exception and traceback, one string) appear
when known; any other ``extra=`` field of a record becomes a field. ``TextFormatter``
writes the same on one line for people (``ts level logger msg key=value ...``).
Both pass every string through ``Redactor.redact`` and make it safe to write: lone
surrogates become ``\\udcxx`` text and line breaks are escaped, so an event is one
line whatever its message holds.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from livecart.web.redaction import Redactor

FORMATS = ("text", "json")
ROOM: contextvars.ContextVar[str | None] = contextvars.ContextVar("livecart_room", default=None)
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "livecart_request_id", default=None
)
ACCESS_LOGGER = "livecart.access"

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_CONTEXT = ("node", "worker", "room", "request_id")
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


class ContextFilter(logging.Filter):
    """Adds ``node``, ``worker``, ``room`` and ``request_id`` to every record (an explicit
    ``extra=`` value wins over the context variable). Never drops a record."""

    def __init__(self, node: str, worker: int | None) -> None:
        super().__init__()
        self.node = node
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context fields to ``record``; keeps every record."""
        record.node = self.node
        record.worker = self.worker
        if getattr(record, "room", None) is None:
            record.room = ROOM.get()
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


def timestamp(created: float) -> str:
    """ISO 8601 in UTC with milliseconds: ``2025-05-01T18:02:03.120Z``."""
    moment = dt.datetime.fromtimestamp(created, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def clean(text: str) -> str:
    """``text`` with lone surrogates turned into ``\\udcxx`` text, so it can be encoded."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Formatter(logging.Formatter):
    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """The record as ordered fields, redacted: never raises for odd messages."""
        try:
            msg = record.getMessage()
        except Exception as exc:  # a bad %-format must not lose the event
            msg = f"{record.msg!r} % {record.args!r} ({type(exc).__name__})"
        out: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": self._text(msg),
        }
        for name in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None or name in ("node", "worker"):
                out[name] = self._value(value)
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in _CONTEXT and not name.startswith("_"):
                out[name] = self._value(value)
        exc_text = self._exception(record)
        if exc_text:
            out["exc"] = self._text(exc_text)
        return out

    def _exception(self, record: logging.LogRecord) -> str:
        parts = []
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        elif record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)

    def _text(self, text: str) -> str:
        return self.redactor.redact(clean(text))

    def _value(self, value: object) -> object:
        if value is None or isinstance(value, bool | int | float):
            return value
        try:
            text = value if isinstance(value, str) else str(value)
        except Exception:
            text = f"<unprintable {type(value).__name__}>"
        return self._text(text)


def _one_line(line: str) -> str:
    for char, escaped in _LINE_BREAKS.items():
        line = line.replace(char, escaped)
    return line


class JsonFormatter(_Formatter):
    """One JSON object per record, on one line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (line breaks escaped)."""
        return _one_line(json.dumps(self.fields(record), ensure_ascii=False, allow_nan=False))


class TextFormatter(_Formatter):
    """``ts level logger msg key=value ...`` on one line; values with spaces, quotes or
    line breaks (and the exception) are JSON-quoted."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text (control characters and line breaks escaped)."""
        fields = self.fields(record)
        head = [fields.pop("ts"), fields.pop("level"), fields.pop("logger")]
        msg = _CONTROL.sub(_escape_control, fields.pop("msg"))
        tail = [f"{name}={_text_value(value)}" for name, value in fields.items()]
        return _one_line(" ".join([*head, msg, *tail]))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_control(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def _text_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    if text and all(c.isprintable() and c not in ' "=' for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


def configure(
    log_format: str,
    *,
    node: str,
    worker: int | None,
    secrets: Iterable[str | None] = (),
    access_log: bool = True,
    stream: TextIO | None = None,
) -> Redactor:
    """Send every log record of this process to ``stream`` (stderr) as ``log_format``
    lines at INFO and above, replacing any handler there was. Access lines
    (``livecart.access``) are INFO, so ``access_log=False`` silences them alone.
    Warnings and uncaught exceptions become records too. Returns the redactor, so a
    secret learned later (the shared admin token) can be added to it."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    handler.setFormatter(formatter(redactor))
    handler.addFilter(ContextFilter(node, worker))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log else logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    return redactor


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("livecart").critical("uncaught exception", exc_info=(kind, exc, tb))
