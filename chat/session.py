"""One client connection as the hub sees it: who it is and how it is written to.

The hub writes to a session only through ``write`` (synchronous, never awaits), so a
fan-out loop cannot stall on one viewer. ``transport`` is any asyncio write transport
(``asyncio.WriteTransport`` or uvloop's); the WebSocket handshake and the reading side
belong to the web adapter.

Write policy (see "Slow consumers" in docs/protocol.md):
- past ``LAG_ON`` bytes of unsent output the session is *lagging*: the room sends it only
  state events and live values until the output falls under ``LAG_OFF``;
- past ``HARD_LIMIT``, or lagging for more than ``LAG_TIMEOUT`` seconds without
  catching up, the room closes it with 4008.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livecart.chat.chat_rules import ChatLimits, TokenBucket
from livecart.chat.codec import WireFormat, encode_frame
from livecart.chat.errors import CloseCode
from livecart.transport import HARD_LIMIT_BYTES, SLOW_CONSUMER_BYTES, Transport
from livecart.wsframe import close_frame

LAG_ON = SLOW_CONSUMER_BYTES
LAG_OFF = 128 * 1024
HARD_LIMIT = HARD_LIMIT_BYTES
LAG_TIMEOUT = 10.0
CLOSE_GRACE = 5.0


@dataclass(eq=False, slots=True)
class Session:
    transport: Transport
    fmt: WireFormat
    vid: str
    token: str
    name: str
    role: str  # "viewer" or "host"
    room_id: str = ""
    commands: TokenBucket = field(default_factory=lambda: TokenBucket(rate=20, burst=40))
    chat_limits: ChatLimits = field(default_factory=ChatLimits)
    closer: Callable[[int, str], None] | None = None
    lagging: bool = False
    lagging_since: float = 0.0
    closed: bool = False
    close_code: int | None = None

    @property
    def is_host(self) -> bool:
        return self.role == "host"

    def write(self, frame: bytes) -> None:
        """Queue a prebuilt frame; a closed or closing connection is skipped."""
        if not self.closed and not self.transport.is_closing():
            self.transport.write(frame)

    def send(self, obj: dict[str, Any]) -> None:
        """Encode ``obj`` in this session's format and queue it (replies, snapshots)."""
        self.write(encode_frame(self.fmt, obj))

    def close(self, code: int, reason: str = "") -> None:
        """Close with ``code``. Never waits.

        A client that reads gets the full closing handshake (through ``closer``, the web
        adapter's graceful close). A slow consumer, or a session without a closer, gets a
        close frame queued behind its backlog and the connection dropped once that is
        flushed, at most ``CLOSE_GRACE`` seconds later whatever the peer does.
        """
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        if self.closer is not None and code != CloseCode.SLOW_CONSUMER:
            self.closer(code, reason)
            return
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(close_frame(code, reason))
        transport.close()
        asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)
