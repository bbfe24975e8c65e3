"""Reading WebSocket frames (RFC 6455 section 5): the one header parser, and a server's
reader of client frames for connections served by a bare protocol rather than a
``WebSocketResponse``.

``frame_head(buf, pos, end)`` reads the header of the frame at ``buf[pos:end]`` and
returns ``(size, length)``: the header's bytes before any masking key and the payload's
length, or ``(0, 0)`` while the header is incomplete. Every frame walk in the tree goes
through it: ``ClientFrames`` below, ``livecart.ws_mask.MaskCheck``, the load tester's
``loadtest.wsclient.FrameReader`` and the video benchmark's viewers
(``bench/video.py``).

``ClientFrames.feed(data)`` takes the bytes read from the socket in order and returns
the complete messages and control frames they finish, as ``(opcode, payload)`` pairs:

- ``OP_TEXT``: ``str`` (the whole message, fragments joined, valid UTF-8);
- ``OP_BINARY``: ``bytes``;
- ``OP_PING`` / ``OP_PONG``: ``bytes`` (at most 125);
- ``OP_CLOSE``: ``(code, reason)``, code 0 when the frame carried none.

It raises ``FrameError(code, reason)`` at the first frame that breaks the protocol, and
the caller closes with that code: 1002 for an unmasked frame, a reserved bit or opcode,
a fragmented or oversized control frame, a continuation out of place or a bad close
code; 1009 for a message over ``max_size`` (known from the frame header: nothing past
the limit is buffered); 1007 for a text message or close reason that is not UTF-8.
Extensions are never negotiated, so every reserved bit must be 0.

What it holds between calls is bounded: the bytes of one frame not complete yet (at
most ``max_size`` + 14) and the fragments of one message (at most ``max_size``). Pure:
no I/O; an idle reader is one small object with nothing buffered.
"""

from __future__ import annotations

import struct

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

PROTOCOL_ERROR = 1002
INVALID_TEXT = 1007
MESSAGE_TOO_BIG = 1009

_DATA = (OP_TEXT, OP_BINARY)
_CONTROL = (OP_CLOSE, OP_PING, OP_PONG)
# close codes a peer may send (RFC 6455 section 7.4.1; 3000-4999 are for applications)
_ALLOWED_CLOSE = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))


class FrameError(Exception):
    """The client broke the protocol; close the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


def frame_head(buf: bytes | bytearray, pos: int, end: int) -> tuple[int, int]:
    """The header of the frame that starts at ``buf[pos]``, from the bytes up to ``end``:
    ``(size, length)``, the header's bytes before any masking key (2, 4 or 10) and the
    payload's length; ``(0, 0)`` while the header is not complete."""
    if end - pos < 2:
        return 0, 0
    length = buf[pos + 1] & 0x7F
    if length < 126:
        return 2, length
    if length == 126:
        if end - pos < 4:
            return 0, 0
        return 4, (buf[pos + 2] << 8) | buf[pos + 3]
    if end - pos < 10:
        return 0, 0
    return 10, struct.unpack_from("!Q", buf, pos + 2)[0]


def unmask(payload: bytes, key: bytes) -> bytes:
    """``payload`` XOR the repeated 4-byte ``key`` (RFC 6455 section 5.3)."""
    n = len(payload)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little"
    )


class ClientFrames:
    """The frame reader of one connection; see the module docstring."""

    __slots__ = ("_buf", "_fragments", "_opcode", "_size", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = b""  # bytes of the frame not complete yet
        self._fragments: list[bytes] | None = None  # the message begun by a non-final frame
        self._opcode = OP_CONTINUATION  # that message's opcode
        self._size = 0  # its bytes so far

    def feed(self, data: bytes) -> list[tuple[int, object]]:
        """Take the next bytes read from the socket; return the messages and control frames
        they complete, in order, as ``(opcode, payload)``. Raises ``FrameError`` at the
        first frame that breaks the protocol."""
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, object]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            head, length = frame_head(buf, pos, end)
            if not head:
                break
            first, second = buf[pos], buf[pos + 1]
            fin, rsv, opcode = first & 0x80, first & 0x70, first & 0x0F
            self._check(fin, rsv, opcode, second & 0x80, length)
            need = head + 4 + length
            if end - pos < need:
                break
            key = buf[pos + head : pos + head + 4]
            payload = unmask(buf[pos + head + 4 : pos + need], key)
            pos += need
            self._frame(bool(fin), opcode, payload, out)
        self._buf = buf[pos:] if pos < end else b""
        return out

    def _check(self, fin: int, rsv: int, opcode: int, masked: int, length: int) -> None:
        """Refuse a frame from its header alone, before any of its payload is kept."""
        if not masked:
            raise FrameError(PROTOCOL_ERROR, "client frames must be masked")
        if rsv:
            raise FrameError(PROTOCOL_ERROR, "reserved bits set")
        if opcode in _CONTROL:
            if not fin or length > 125:
                raise FrameError(PROTOCOL_ERROR, "control frames are final and short")
            return
        if opcode == OP_CONTINUATION:
            if self._fragments is None:
                raise FrameError(PROTOCOL_ERROR, "continuation of no message")
        elif opcode in _DATA:
            if self._fragments is not None:
                raise FrameError(PROTOCOL_ERROR, "a new message inside a fragmented one")
        else:
            raise FrameError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if self._size + length > self.max_size:
            raise FrameError(MESSAGE_TOO_BIG, f"message over {self.max_size} bytes")

    def _frame(self, fin: bool, opcode: int, payload: bytes, out: list[tuple[int, object]]) -> None:
        if opcode == OP_CLOSE:
            out.append((OP_CLOSE, _close_payload(payload)))
            return
        if opcode in _CONTROL:
            out.append((opcode, payload))
            return
        if opcode != OP_CONTINUATION:
            self._opcode = opcode
        if not fin:
            if self._fragments is None:
                self._fragments = []
            self._fragments.append(payload)
            self._size += len(payload)
            return
        if self._fragments is not None:
            self._fragments.append(payload)
            payload = b"".join(self._fragments)
            self._fragments = None
            self._size = 0
        if self._opcode == OP_TEXT:
            try:
                out.append((OP_TEXT, payload.decode("utf-8")))
            except UnicodeDecodeError:
                raise FrameError(INVALID_TEXT, "text message is not UTF-8") from None
        else:
            out.append((OP_BINARY, payload))


def _close_payload(payload: bytes) -> tuple[int, str]:
    if not payload:
        return 0, ""
    if len(payload) == 1:
        raise FrameError(PROTOCOL_ERROR, "close frame of one byte")
    code = struct.unpack_from("!H", payload)[0]
    if (code < 3000 and code not in _ALLOWED_CLOSE) or code >= 5000:
        raise FrameError(PROTOCOL_ERROR, f"close code {code}")
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(INVALID_TEXT, "close reason is not UTF-8") from None
