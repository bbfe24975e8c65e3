"""What a fan-out writes to, and the byte limits of its slow-consumer policy.

Chat (``livecart.chat.room``) and video (``livecart.streamer.fanout``) write to each
viewer through the same small contract: ``write`` queues bytes and never blocks or
awaits; ``get_write_buffer_size`` tells how much is still unsent. An asyncio or uvloop
write transport (the socket under an upgraded aiohttp WebSocket) satisfies it.

Both fan-outs read a viewer's unsent bytes against the same two limits (docs/protocol.md,
"Slow consumers"; docs/streaming.md):

- past ``SLOW_CONSUMER_BYTES`` a viewer is *slow*: chat sends it only state and live
  values, video skips it to the next keyframe;
- past ``HARD_LIMIT_BYTES`` it is closed (chat: 4008; video: aborted, the player
  reconnects at the latest keyframe).
"""

from __future__ import annotations

from typing import Protocol

SLOW_CONSUMER_BYTES = 512 * 1024
HARD_LIMIT_BYTES = 4 * 1024 * 1024


class Transport(Protocol):
    """The part of ``asyncio.WriteTransport`` a fan-out uses."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the peer; never blocks or awaits."""
        ...

    def get_write_buffer_size(self) -> int:
        """Bytes queued and not yet handed to the kernel."""
        ...

    def is_closing(self) -> bool:
        """True once the transport is closed or closing."""
        ...

    def close(self) -> None:
        """Close after the queued bytes are sent."""
        ...

    def abort(self) -> None:
        """Close at once, dropping whatever is queued."""
        ...
