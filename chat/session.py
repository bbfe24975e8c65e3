"""One client connection as the hub sees it: who it is and how it is written to.

The hub writes to a session only through ``write`` (synchronous, never awaits), so a
fan-out loop cannot stall on one viewer. ``transport`` is any asyncio write transport
(``asyncio.WriteTransport`` or uvloop's); the WebSocket handshake and the reading side
belong to the web adapter.

Write policy (see "Slow consumers" in docs/protocol.md). *Unsent output* is what the
transport still holds plus what the kernel's send queue holds that the peer has not
acknowledged (``unsent``; the kernel's part is probed at most every ``PROBE_INTERVAL``
seconds while the session keeps up, at every tick once it is behind):
- past ``LAG_ON`` bytes of unsent output the session is *lagging*: the room sends it only
  state events and live values until the output falls under ``LAG_OFF``;
- past ``HARD_LIMIT``, or lagging for more than ``LAG_TIMEOUT`` seconds without
  catching up, the room closes it with 4008: a close frame queued behind the backlog,
  and ``CLOSE_GRACE`` seconds later the connection is reset (RST) if anything is still
  unsent, so the kernel does not keep megabytes for a peer that does not read.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livecart.chat.chat_rules import TokenBucket
from livecart.chat.codec import WireFormat, encode_frame
from livecart.chat.errors import CloseCode
from livecart.tcp import kernel_unsent, reset, transport_socket
from livecart.transport import HARD_LIMIT_BYTES, SLOW_CONSUMER_BYTES, Transport
from livecart.wsframe import close_frame

LAG_ON = SLOW_CONSUMER_BYTES
LAG_OFF = 128 * 1024
HARD_LIMIT = HARD_LIMIT_BYTES
LAG_TIMEOUT = 10.0
CLOSE_GRACE = 5.0
PROBE_INTERVAL = 1.0
_PROBE_BUF = bytearray(4)  # one buffer for every probe: the loop is single-threaded


@dataclass(eq=False, slots=True)
class Session:
    """One client connection as the hub sees it: its identity (``vid``, ``name``, ``role``,
    buyer), its room, its command bucket, and the transport it is written to.

    Writes (``write``, ``send``, ``close``) never await and skip a closed connection; the
    slow-consumer state (``lagging``, the probed kernel queue) is kept here and acted on by
    the room's fan-out, as the module docstring says."""

    transport: Transport
    fmt: WireFormat
    vid: str
    token: str
    name: str
    role: str  # "viewer" or "host"
    room_id: str = ""
    address: str = ""
    """The client's address (``livecart.connections.client_address``): its per-address
    chat budget, the address a ban also covers, and (as ``address_key``) the address
    checkout caps unpaid holds by."""
    commands: TokenBucket = field(default_factory=lambda: TokenBucket(rate=20, burst=40))
    closer: Callable[[int, str], None] | None = None
    lagging: bool = False
    lagging_since: float = 0.0
    closed: bool = False
    close_code: int | None = None
    sock: Any = field(default=None, repr=False)
    kernel_queued: int = 0
    probe_at: float = 0.0
    buyer: str | None = None  # ``u:<sub>`` once a buyer token was accepted (``buyer_auth``)
    buyer_expires_ms: int = 0  # that token's ``exp``, ms since the epoch
    joined_at: float = field(default_factory=time.monotonic)  # giveaways' "watched" rule

    def __post_init__(self) -> None:
        if self.sock is None:
            self.sock = transport_socket(self.transport)

    def unsent(self, now: float) -> int:
        """Bytes written to this session that its peer has not taken yet: the
        transport's buffer plus the kernel's send queue (re-read when ``now`` is past
        ``probe_at``, or at once when the transport itself holds data or the session is
        lagging; between probes the last reading stands). ``Fanout.write`` inlines the
        cheap half of this; keep the two alike."""
        backlog = self.transport.get_write_buffer_size()
        if backlog or self.lagging or now >= self.probe_at:
            return backlog + self.probe(now)
        return backlog + self.kernel_queued

    def probe(self, now: float) -> int:
        """Read the kernel's send queue now; the next probe is due in about
        ``PROBE_INTERVAL`` (jittered, so sessions that joined together spread out)."""
        self.kernel_queued = kernel_unsent(self.sock, _PROBE_BUF)
        self.probe_at = now + PROBE_INTERVAL * (0.5 + random.random())
        return self.kernel_queued

    @property
    def is_host(self) -> bool:
        """True for the room's host connection."""
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
            reset(transport)  # whatever is queued goes nowhere: drop it now
            return
        transport.write(close_frame(code, reason))
        asyncio.get_running_loop().call_later(CLOSE_GRACE, self._end)

    def _end(self) -> None:
        """``CLOSE_GRACE`` after a close frame: FIN if the peer took everything, else RST."""
        transport = self.transport
        if transport.get_write_buffer_size() or kernel_unsent(self.sock):
            reset(transport)
        elif not transport.is_closing():
            transport.close()
