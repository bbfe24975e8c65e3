"""livecart.ws_reader: client frames in any split, and the close code of each breach."""

from __future__ import annotations

import os
import struct

import pytest

from livecart.ws_reader import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    ClientFrames,
    FrameError,
    frame_head,
    unmask,
)


def frame(
    opcode: int, payload: bytes, fin: bool = True, masked: bool = True, rsv: int = 0
) -> bytes:
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head = bytes((first, bit | n))
    elif n < 65536:
        head = bytes((first, bit | 126)) + struct.pack("!H", n)
    else:
        head = bytes((first, bit | 127)) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def feed_split(data: bytes, step: int, max_size: int = 16384) -> list[tuple[int, object]]:
    reader = ClientFrames(max_size)
    out: list[tuple[int, object]] = []
    for i in range(0, len(data), step):
        out += reader.feed(data[i : i + step])
    return out


@pytest.mark.parametrize(("n", "size"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_frame_head_reads_each_header_size_masked_or_not(n: int, size: int) -> None:
    for masked in (True, False):
        data = b"junk" + frame(OP_BINARY, b"x" * n, masked=masked)
        for buf in (data, bytearray(data)):
            assert frame_head(buf, 4, len(buf)) == (size, n)
            for end in range(4, 4 + size):  # the header not complete yet
                assert frame_head(buf, 4, end) == (0, 0)


def test_unmask_is_its_own_inverse() -> None:
    key = b"\x01\x02\x03\x04"
    data = os.urandom(1001)
    assert unmask(unmask(data, key), key) == data
    assert unmask(b"\x00\x00\x00\x00\x00", key) == b"\x01\x02\x03\x04\x01"


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 100_000])
def test_messages_fragments_and_control_frames_in_any_split(step: int) -> None:
    big = os.urandom(300)
    data = (
        frame(OP_TEXT, '{"cmd":"ping"} é'.encode())
        + frame(OP_BINARY, big)
        + frame(OP_TEXT, b"hel", fin=False)
        + frame(OP_PING, b"hb")  # a control frame between fragments
        + frame(0x0, b"lo", fin=False)
        + frame(0x0, b"!")
        + frame(OP_CLOSE, struct.pack("!H", 1000) + b"bye")
    )
    assert feed_split(data, step) == [
        (OP_TEXT, '{"cmd":"ping"} é'),
        (OP_BINARY, big),
        (OP_PING, b"hb"),
        (OP_TEXT, "hello!"),
        (OP_CLOSE, (1000, "bye")),
    ]


def test_an_idle_reader_keeps_nothing() -> None:
    reader = ClientFrames(16384)
    assert reader.feed(frame(OP_TEXT, b"x") + frame(OP_PING, b"")) == [
        (OP_TEXT, "x"),
        (OP_PING, b""),
    ]
    assert reader._buf == b"" and reader._fragments is None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(OP_TEXT, b"x", masked=False), 1002),
        (frame(OP_TEXT, b"x", rsv=0x40), 1002),  # no extension was negotiated
        (frame(0x3, b"x"), 1002),  # reserved opcode
        (frame(OP_PING, b"x", fin=False), 1002),
        (frame(OP_PING, b"x" * 126), 1002),
        (frame(0x0, b"x"), 1002),  # continuation of nothing
        (frame(OP_TEXT, b"a", fin=False) + frame(OP_BINARY, b"b"), 1002),
        (frame(OP_CLOSE, b"\x03"), 1002),
        (frame(OP_CLOSE, struct.pack("!H", 1005)), 1002),
        (frame(OP_CLOSE, struct.pack("!H", 5000)), 1002),
        (frame(OP_TEXT, b"\xff\xfe"), 1007),
        (frame(OP_CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007),
        (frame(OP_TEXT, b"x" * 16385), 1009),
        (frame(OP_TEXT, b"x" * 10000, fin=False) + frame(0x0, b"x" * 10000), 1009),
    ],
)
def test_each_breach_raises_its_close_code(data: bytes, code: int) -> None:
    with pytest.raises(FrameError) as caught:
        feed_split(data, 100_000)
    assert caught.value.code == code


def test_an_oversized_message_is_refused_from_its_header_alone() -> None:
    reader = ClientFrames(16384)
    head = bytes((0x81, 0x80 | 127)) + struct.pack("!Q", 1 << 40)
    with pytest.raises(FrameError) as caught:
        reader.feed(head)  # no payload byte sent yet
    assert caught.value.code == 1009


def test_an_application_close_code_and_an_empty_close_are_accepted() -> None:
    assert feed_split(frame(OP_CLOSE, struct.pack("!H", 4008)), 3) == [(OP_CLOSE, (4008, ""))]
    assert feed_split(frame(OP_CLOSE, b""), 1) == [(OP_CLOSE, (0, ""))]
