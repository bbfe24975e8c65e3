"""What a client call can raise.

Error tree::

    ClientError               base of this package's errors
    ├── CommandError          the server refused a command (an error reply): ``code`` is one
    │                         of docs/protocol.md's codes (``ErrorCode``) or a checkout
    │                         code; nothing was changed on the server
    ├── Disconnected          the connection was lost before the reply came; the command
    │                         may or may not have run (retry ``buy``/``pay`` with the same
    │                         ``key``, they are idempotent)
    └── Closed                the connection ended for good: ``close()``, a close code that
                              says not to come back (4001 wrong host token, 4003 banned,
                              4004 no such room) or a drop with reconnecting turned off

A command that gets no reply in its timeout raises the built-in ``TimeoutError``.
Pure; no I/O.
"""

from __future__ import annotations

from typing import Any

from livecart.chat.errors import CloseCode, ErrorCode

__all__ = ["ClientError", "CloseCode", "Closed", "CommandError", "Disconnected", "ErrorCode"]

#: Close codes after which reconnecting cannot help: the client stops.
FINAL_CLOSE_CODES = frozenset({CloseCode.UNAUTHORIZED, CloseCode.BANNED, CloseCode.NO_SUCH_ROOM})


class ClientError(Exception):
    """Base of the client's own errors."""


class CommandError(ClientError):
    """An error reply. ``retry_after`` (seconds) comes with ``rate_limited``,
    ``slow_mode`` and ``in_progress``; ``error`` is the reply's whole error object."""

    def __init__(
        self, code: str, message: str = "", retry_after: float | None = None, **extra: Any
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.error: dict[str, Any] = {"code": code, "message": message, **extra}
        if retry_after is not None:
            self.error["retry_after"] = retry_after

    @classmethod
    def from_wire(cls, error: Any) -> CommandError:
        """The error object of a reply; a malformed one reads as ``internal``."""
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            return cls(ErrorCode.INTERNAL.value, "malformed error reply")
        retry = error.get("retry_after")
        extra = {k: v for k, v in error.items() if k not in ("code", "message", "retry_after")}
        return cls(
            error["code"],
            str(error.get("message", "")),
            float(retry) if isinstance(retry, int | float) else None,
            **extra,
        )


class Disconnected(ClientError):
    """The connection was lost while a command waited for its reply."""


class Closed(ClientError):
    """The connection ended for good. ``code`` is the close code (1006: no close frame;
    ``None`` after ``close()``)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"closed ({code}): {reason}" if reason else f"closed ({code})")
        self.code = code
        self.reason = reason
