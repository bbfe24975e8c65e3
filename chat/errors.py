"""Everything the hub can refuse, and how.

Error tree::

    HubError                  base of this package's errors
    ├── CommandError          a client mistake or a refusal: answered with an error reply
    │   │                     (``code`` from ``ErrorCode``); nothing was changed
    │   ├── ProtocolError     a frame that is not a command at all (``bad_frame``)
    │   └── StoreUnavailable  the datastore could not be reached (``unavailable``); the
    │                         store raises it, so callers answer it like any refusal:
    │                         an error reply, HTTP 503, or close 1013 on a join
    ├── RoomNotFound          the room has no record (close 4004, HTTP 404, or
    │                         ``not_found`` for a command in a room that was deleted)
    └── SequenceGap           an event arrived ahead of the next seq; the hub fills the
                              gap from the store's history (never reaches a client)

Our own bugs are not ``HubError``: the WebSocket adapter logs them and closes the socket
with ``CloseCode.INTERNAL`` (1011). Codes and close codes are documented in
``docs/protocol.md``; this module is their single source in code.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    """The error codes a client may get in an error reply (docs/protocol.md lists them);
    checkout adds its own codes beside these."""

    BAD_FRAME = "bad_frame"
    BAD_COMMAND = "bad_command"
    BAD_ARGS = "bad_args"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    SLOW_MODE = "slow_mode"
    TEXT_EMPTY = "text_empty"
    TEXT_TOO_LONG = "text_too_long"
    TEXT_INVALID = "text_invalid"
    BLOCKED_WORD = "blocked_word"
    MUTED = "muted"
    BANNED = "banned"
    BAD_TOKEN = "bad_token"
    TOKEN_EXPIRED = "token_expired"
    AUTH_REQUIRED = "auth_required"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class CloseCode(IntEnum):
    """WebSocket close codes the server uses: the RFC 6455 ones and livecart's own 4xxx
    (docs/protocol.md says when each is sent)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    TOO_BIG = 1009
    INTERNAL = 1011
    TRY_AGAIN_LATER = 1013
    UNAUTHORIZED = 4001
    BANNED = 4003
    NO_SUCH_ROOM = 4004
    SLOW_CONSUMER = 4008


class HubError(Exception):
    """Base of the hub's own errors."""


class CommandError(HubError):
    """A refused command. ``code`` is an ``ErrorCode`` value (or a checkout code)."""

    def __init__(self, code: str, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = str(code)
        self.message = message or str(code).replace("_", " ")
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, object]:
        """The error as a reply carries it: ``code``, ``message`` and, when set,
        ``retry_after``."""
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            error["retry_after"] = round(self.retry_after, 3)
        return error


class ProtocolError(CommandError):
    """A frame that could not be decoded into an object."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.BAD_FRAME, message)


class StoreUnavailable(CommandError):
    """The datastore is unreachable; nothing was changed, the same command may be retried."""

    def __init__(self, message: str = "datastore unreachable, retry") -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


class RoomNotFound(HubError):
    """The room has no record in the store."""


class SequenceGap(HubError):
    """An event arrived with a seq beyond the next one; the events between are missing."""

    def __init__(self, have: int, got: int) -> None:
        super().__init__(f"have seq {have}, got {got}")
        self.have = have
        self.got = got
