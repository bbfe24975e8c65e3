"""What the kernel still holds for a viewer's TCP socket, and how to drop it at once.

A transport's ``get_write_buffer_size`` counts only what the event loop still holds; the
kernel's send queue (up to ``net.ipv4.tcp_wmem``'s maximum, 4 MiB on a stock Linux) holds
the rest of what a slow reader has not taken. The fan-outs add the two so that the
slow-consumer limits of :mod:`livecart.transport` hold whatever the buffer sizes are.

- :func:`transport_socket` finds the TCP socket object under a transport (None when
  there is none, e.g. a test double);
- :func:`kernel_unsent` reads the bytes the peer has not acknowledged (Linux
  ``SIOCOUTQ``); it answers 0 where the call is unavailable (other systems, a closed
  socket), which leaves the transport's own count as the measure: the portable fallback.
  It asks the socket object for its descriptor at every call (a closed one answers -1),
  so a descriptor the system has since given to another connection is never probed;
- :func:`reset` drops a connection with a TCP RST (``SO_LINGER`` 0, then ``abort``), so
  the kernel discards the queue at once instead of keeping the socket in FIN_WAIT1 until
  it gives up on a peer that does not read.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import sys
from typing import Any

from livecart.transport import Transport

# SIOCOUTQ is TIOCOUTQ on Linux (include/uapi/linux/sockios.h).
_SIOCOUTQ = 0x5411
_HAS_OUTQ = sys.platform.startswith("linux")
_LINGER_RESET = struct.pack("ii", 1, 0)


def transport_socket(transport: Any) -> Any | None:
    """The TCP socket object under ``transport`` (asyncio's or uvloop's), or None."""
    get = getattr(transport, "get_extra_info", None)
    sock = get("socket") if get is not None else None
    if sock is None or getattr(sock, "type", None) != socket.SOCK_STREAM:
        return None
    return sock


def kernel_unsent(sock: Any | None, buf: bytearray | None = None) -> int:
    """Bytes in ``sock``'s send queue the peer has not acknowledged; 0 when unknown.

    ``buf`` (4 bytes) may be passed to avoid an allocation per call."""
    if sock is None or not _HAS_OUTQ:
        return 0
    try:
        fd: int = sock.fileno()
    except (OSError, ValueError):
        return 0
    if fd < 0:
        return 0
    out = buf if buf is not None else bytearray(4)
    try:
        fcntl.ioctl(fd, _SIOCOUTQ, out, True)
    except OSError:
        return 0
    n: int = struct.unpack_from("i", out)[0]
    return n


def reset(transport: Transport) -> None:
    """Abort ``transport`` with an RST so no unsent data outlives it. Never raises."""
    sock = transport_socket(transport)
    if sock is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()
