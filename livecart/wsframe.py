"""Server-side WebSocket frames built once, written many times (RFC 6455 section 5.2).

Server frames are never masked, so a frame's bytes do not depend on the socket it goes
to: the hub builds one frame per format per tick and writes the same bytes to every
connection. Pure functions; no I/O.
"""

from __future__ import annotations

import struct

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8


def build_frame(opcode: int, payload: bytes) -> bytes:
    """Return one final (FIN=1), unmasked, uncompressed frame carrying ``payload``."""
    first = 0x80 | opcode
    n = len(payload)
    if n < 126:
        header = bytes((first, n))
    elif n < 65536:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame with ``code`` and a reason truncated to fit the 125-byte limit."""
    payload = struct.pack("!H", code) + reason.encode()[:123]
    return build_frame(OP_CLOSE, payload)
