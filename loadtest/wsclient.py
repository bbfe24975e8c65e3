"""A lean WebSocket client for simulated viewers, on a bare ``asyncio.Protocol``.

Thousands of these run in one process, so a *light* viewer only walks frame headers to
count frames and bytes (it never decodes a payload), while a *sample* viewer decodes
every batch, checks that sequence numbers follow on with no gap the server did not
report, and measures delivery latency from the events' server timestamps.

Client frames are masked with an all-zero key (allowed by RFC 6455: the key is random
per spec for proxies' sake; on loopback it costs nothing and keeps frames prebuilt).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from dataclasses import dataclass, field
from typing import Any, cast

import msgpack

JSON = "livecart.v1.json"
MSGPACK = "livecart.v1.msgpack"


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame with a zero masking key (payload bytes stay as they are)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return header + b"\x00\x00\x00\x00" + payload


class FrameReader:
    """Incremental parser of server frames (unmasked). ``feed`` returns complete frames
    as (opcode, payload) when ``keep`` is true, else only counts them."""

    __slots__ = ("_buf", "bytes", "frames", "keep")

    def __init__(self, keep: bool) -> None:
        self._buf = b""
        self.keep = keep
        self.frames = 0
        self.bytes = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.bytes += len(data)
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, bytes]] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif n == 127:
                if end - pos < 10:
                    break
                (n,) = struct.unpack_from("!Q", buf, pos + 2)
                head = 10
            if end - pos < head + n:
                break
            self.frames += 1
            if self.keep or b0 & 0x0F == 0x8:
                out.append((b0 & 0x0F, buf[pos + head : pos + head + n]))
            pos += head + n
        self._buf = buf[pos:]
        return out


@dataclass
class ViewerStats:
    """What a group of viewers saw (sample viewers fill the decoded fields)."""

    chat: int = 0
    latencies: list[float] = field(default_factory=list)
    gaps: int = 0
    skipped: int = 0
    errors: int = 0
    closed: int = 0
    close_codes: dict[int, int] = field(default_factory=dict)


class Viewer(asyncio.Protocol):
    """One simulated viewer. ``sample`` decodes and measures; otherwise it only counts."""

    def __init__(self, path: str, sample: bool, fmt: str, stats: ViewerStats) -> None:
        self.path = path
        self.sample = sample
        self.fmt = fmt
        self.stats = stats
        self.reader = FrameReader(keep=sample)
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._handshake = b""
        self.seq = -1
        self.first: dict[str, Any] | None = None
        self.measuring = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {self.fmt}\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            self._handshake += data
            end = self._handshake.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self._handshake.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(self._handshake[:80].decode()))
                return
            data = self._handshake[end + 4 :]
            self._handshake = b""
            self.ready.set_result(None)
            if not data:
                return
        frames = self.reader.feed(data)
        for opcode, payload in frames:
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.stats.close_codes[code] = self.stats.close_codes.get(code, 0) + 1
                continue
            self._decode(payload)

    def _decode(self, payload: bytes) -> None:
        frame = json.loads(payload) if self.fmt == JSON else msgpack.unpackb(payload)
        kind = frame.get("t")
        if kind in ("snapshot", "resume"):
            self.first = frame
            self.seq = frame["seq"]
            return
        if kind == "reply":
            if not frame.get("ok"):
                self.stats.errors += 1
            return
        if kind != "batch":
            return
        now = time.time() * 1000
        if frame.get("skipped"):
            self.stats.skipped += frame["skipped"]
        for event in frame["events"]:
            seq = event["seq"]
            if self.seq >= 0 and seq != self.seq + 1 and not frame.get("skipped"):
                self.stats.gaps += 1
            self.seq = seq
            if event["type"] == "chat" and self.measuring:
                self.stats.chat += 1
                self.stats.latencies.append(now - event["ts"])

    def send(self, obj: dict[str, Any]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(json.dumps(obj).encode()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during handshake"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_viewer(
    host: str, port: int, path: str, *, sample: bool, fmt: str, stats: ViewerStats
) -> Viewer:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: Viewer(path, sample, fmt, stats), host, port)
    await asyncio.wait_for(proto.ready, 30)
    return proto
