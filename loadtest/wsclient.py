"""A lean WebSocket client for simulated viewers, on a bare ``asyncio.Protocol``.

Thousands of these run in one process, so a *light* viewer only walks frame headers to
count frames and bytes (it never decodes a payload), while a *sample* viewer decodes
every batch, checks that sequence numbers follow on with no gap the server did not
report, and measures delivery latency twice: from the events' server timestamps
(``ts``, stamped by the hub once it has the command) and, for a chat message whose text
ends with `` @<ms>`` (:func:`stamped_text`: the sender's own clock, the same machine's),
from the sender's clock, which is what a viewer feels.

Three protocols share the framing in :class:`WsConn` (handshake, frame walk, ping ->
pong, close codes):

- :class:`Viewer` speaks livecart's protocol (docs/protocol.md). Every viewer decodes
  its first frame (the snapshot: its viewer token, epoch and sequence) and, while it
  has commands in flight, every frame until their replies are in; a light viewer reads
  nothing else.
- :class:`VideoViewer` reads ``/ws/video/{room}`` (docs/streaming.md): it counts
  fragments; a sample one measures "behind live" from each fragment's header.
- :class:`EioViewer` speaks Engine.IO v4 / Socket.IO over a raw WebSocket, for the
  side-by-side comparison with python-socketio.

Client frames are masked with an all-zero key (allowed by RFC 6455: the key is random
per spec for proxies' sake; on loopback it costs nothing and keeps frames prebuilt).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import resource
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import msgpack

from livecart.ws_reader import frame_head

JSON = "livecart.v1.json"
MSGPACK = "livecart.v1.msgpack"

C = TypeVar("C", bound="WsConn")  # a connection of one of the protocols below

CLOSE, PING, PONG = 0x8, 0x9, 0xA


def raise_fd_limit() -> None:
    """Thousands of sockets per process: lift the soft limit on open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class HandshakeRefused(ConnectionError):
    """The server answered the upgrade request with an HTTP status other than 101
    (``status``: 429 is the per-address socket cap, 403 a refused origin)."""

    def __init__(self, status: int, line: str) -> None:
        super().__init__(line)
        self.status = status


def refusal(head: bytes) -> HandshakeRefused:
    """The refusal a response head other than ``HTTP/1.1 101`` stands for (status 0 when
    the head is not an HTTP status line)."""
    line = head.split(b"\r\n", 1)[0][:80].decode("latin-1")
    parts = line.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return HandshakeRefused(status, line)


def _fail(fut: asyncio.Future[None], exc: BaseException) -> None:
    """Fail ``fut`` unless done, without a "never retrieved" complaint if nobody waits."""
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()


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
    """Incremental parser of server frames (unmasked), walking them with
    ``livecart.ws_reader.frame_head``.

    ``feed`` returns complete frames as (opcode, payload): every frame when ``keep`` is
    true; otherwise only control frames (close, ping, pong) and data frames of at most
    ``keep_small`` bytes (Engine.IO's one-byte ping); the rest are only counted.
    ``frames`` counts every frame, ``control`` the control frames among them.
    """

    __slots__ = ("_buf", "bytes", "control", "frames", "keep", "keep_small")

    def __init__(self, keep: bool, keep_small: int = -1) -> None:
        self._buf = b""
        self.keep = keep
        self.keep_small = keep_small
        self.frames = 0
        self.control = 0
        self.bytes = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Take the next bytes read; return the complete frames that are kept, as (opcode,
        payload), and keep an incomplete one's bytes for the next call."""
        self.bytes += len(data)
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, bytes]] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            head, n = frame_head(buf, pos, end)
            if not head or end - pos < head + n:
                break
            b0 = buf[pos]
            self.frames += 1
            if b0 & 0x08:
                self.control += 1
                out.append((b0 & 0x0F, buf[pos + head : pos + head + n]))
            elif self.keep or n <= self.keep_small:
                out.append((b0 & 0x0F, buf[pos + head : pos + head + n]))
            pos += head + n
        self._buf = buf[pos:]
        return out


def stamped_text(text: str, now_ms: float) -> str:
    """A chat text carrying the sender's clock (ms since the epoch) at its end."""
    return f"{text} @{now_ms:.1f}"


def sent_at(text: object) -> float | None:
    """The sender's clock a :func:`stamped_text` carries (None for any other text)."""
    if not isinstance(text, str):
        return None
    _, sep, tail = text.rpartition(" @")
    if not sep:
        return None
    try:
        return float(tail)
    except ValueError:
        return None


@dataclass
class ViewerStats:
    """What a group of viewers saw (sample viewers fill the decoded fields).

    ``latencies``: receive time - the event's server timestamp (ms); for the chat
    messages that carry their sender's clock, ``sent_latencies``: receive time - sent
    time, and ``to_stamp``: server timestamp - sent time."""

    chat: int = 0
    events: int = 0
    latencies: list[float] = field(default_factory=list)
    sent_latencies: list[float] = field(default_factory=list)
    to_stamp: list[float] = field(default_factory=list)
    gaps: int = 0
    repeats: int = 0
    skipped: int = 0
    errors: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # error replies by code
    closed: int = 0
    close_codes: dict[int, int] = field(default_factory=dict)
    live_viewers: int = 0


class WsConn(asyncio.Protocol):
    """The WebSocket layer: upgrade request, frame walk, pong to every ping, close code.

    Subclasses implement ``on_message(opcode, payload)`` for the data frames that the
    reader keeps and may override ``on_open`` and ``on_lost``.
    """

    def __init__(
        self, path: str, *, keep: bool, subprotocol: str | None = None, keep_small: int = -1
    ) -> None:
        self.path = path
        self.subprotocol = subprotocol
        self.reader = FrameReader(keep, keep_small)
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._handshake = b""
        self.close_code: int | None = None
        self.lost = False
        self.leaving = False  # closed by us, not by the server
        self.started = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the upgrade request (with the subprotocol, if any)."""
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        proto = f"Sec-WebSocket-Protocol: {self.subprotocol}\r\n" if self.subprotocol else ""
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{proto}\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        """Before the upgrade, collect the handshake and fail ``ready`` on a refusal; after
        it, walk the frames: answer pings, note the close code, and hand kept data frames
        to ``on_message``."""
        if not self.ready.done():
            self._handshake += data
            end = self._handshake.find(b"\r\n\r\n")
            if end < 0:
                if len(self._handshake) > 16384:
                    _fail(self.ready, ConnectionError("oversized handshake"))
                return
            if not self._handshake.startswith(b"HTTP/1.1 101"):
                _fail(self.ready, refusal(self._handshake))
                return
            data = self._handshake[end + 4 :]
            self._handshake = b""
            self.ready.set_result(None)
            self.on_open()
            if not data:
                return
        for opcode, payload in self.reader.feed(data):
            if opcode & 0x08:
                self._control(opcode, payload)
            else:
                self.on_message(opcode, payload)

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == PING:
            self.write(payload, PONG)
        elif opcode == CLOSE and self.close_code is None:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self.on_close_frame(self.close_code)

    def on_open(self) -> None:
        """The upgrade succeeded."""

    def on_message(self, opcode: int, payload: bytes) -> None:
        """A data frame the reader kept."""

    def on_close_frame(self, code: int) -> None:
        """The server sent a close frame with ``code``."""

    def on_lost(self) -> None:
        """The connection is gone (closed by either side)."""

    def write(self, payload: bytes, opcode: int = 0x1) -> bool:
        """Send one masked frame; False when the connection is closed or closing."""
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(client_frame(payload, opcode))
        return True

    @property
    def open(self) -> bool:
        """True after the upgrade until the connection is lost or the server sends a close
        frame."""
        return self.ready.done() and not self.lost and self.close_code is None

    def connection_lost(self, exc: Exception | None) -> None:
        """Mark the connection lost, fail a handshake still waiting, and call ``on_lost``."""
        self.lost = True
        _fail(self.ready, ConnectionError("closed during handshake"))
        self.on_lost()

    def close(self) -> None:
        """Close the connection on purpose (``leaving``: not counted as a drop)."""
        self.leaving = True
        if self.transport is not None:
            self.transport.close()


class Viewer(WsConn):
    """One simulated livecart viewer. ``sample`` decodes and measures; otherwise it only
    counts, except for its first frame and the frames that arrive while it waits for
    replies (it decodes those to find the replies)."""

    def __init__(
        self,
        path: str,
        sample: bool,
        fmt: str,
        stats: ViewerStats,
        *,
        on_reply: Callable[[Viewer, dict[str, Any]], None] | None = None,
        measure_all: bool = False,
    ) -> None:
        super().__init__(path, keep=True, subprotocol=fmt)
        self.sample = sample
        self.fmt = fmt
        self.stats = stats
        self.on_reply = on_reply
        self.measure_all = measure_all
        self.seq = -1
        self.first: dict[str, Any] | None = None
        self.first_at: float | None = None
        self.token: str | None = None
        self.epoch: str | None = None
        self.measuring = False
        self.pending = 0
        self.replies = 0
        self.ident: int = 0  # the owner's index for this viewer
        self.got_first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def batches(self) -> int:
        """Batch frames received: every data frame but the first and the replies."""
        data = self.reader.frames - self.reader.control
        return max(0, data - (1 if self.first is not None else 0) - self.replies)

    def on_message(self, opcode: int, payload: bytes) -> None:
        """Decode a kept frame. The first one (snapshot or resume) gives the viewer's token,
        epoch and ``seq``; a reply is counted and handed to ``on_reply``; a new snapshot
        resets ``seq`` and epoch; a batch is checked and measured by a sample viewer only."""
        frame = json.loads(payload) if self.fmt == JSON else msgpack.unpackb(payload)
        if self.first is None:
            self.first = frame
            self.first_at = time.monotonic()
            self.seq = frame.get("seq", -1)
            self.epoch = frame.get("epoch")
            self.token = (frame.get("you") or {}).get("token")
            if frame.get("t") == "resume" and self.sample:
                self._events(frame.get("events") or [], False)
            self.reader.keep = self.sample or self.pending > 0
            if not self.got_first.done():
                self.got_first.set_result(None)
            return
        kind = frame.get("t")
        if kind == "reply":
            self.replies += 1
            self.pending = max(0, self.pending - 1)
            self.reader.keep = self.sample or self.pending > 0
            if not frame.get("ok"):
                self.stats.errors += 1
                code = str((frame.get("error") or {}).get("code"))
                self.stats.refused[code] = self.stats.refused.get(code, 0) + 1
            if self.on_reply is not None:
                self.on_reply(self, frame)
            return
        if kind == "snapshot":  # the server re-snapshotted: its seq and epoch are the truth
            self.seq = frame.get("seq", -1)
            self.epoch = frame.get("epoch")
            return
        if kind != "batch" or not self.sample:
            return
        if frame.get("skipped"):
            self.stats.skipped += frame["skipped"]
        live = frame.get("live")
        if live and "viewers" in live:
            self.stats.live_viewers = live["viewers"]
        self._events(frame["events"], bool(frame.get("skipped")))

    def _events(self, events: list[dict[str, Any]], skipped: bool) -> None:
        now = time.time() * 1000
        stats = self.stats
        for event in events:
            seq = event["seq"]
            if seq <= self.seq:
                # Already applied: a batch right after the snapshot can repeat events the
                # snapshot holds. A client drops them.
                stats.repeats += 1
                continue
            if self.seq >= 0 and seq != self.seq + 1 and not skipped:
                stats.gaps += 1
            self.seq = seq
            if not self.measuring:
                continue
            if event["type"] == "chat":
                stats.chat += 1
                sent = sent_at(event.get("text"))
                if sent is not None:
                    stats.sent_latencies.append(now - sent)
                    if "ts" in event:
                        stats.to_stamp.append(event["ts"] - sent)
            elif not self.measure_all:
                continue
            stats.events += 1
            if "ts" in event:
                stats.latencies.append(now - event["ts"])

    def send(self, obj: dict[str, Any]) -> bool:
        """Send one command; its reply is decoded (and passed to ``on_reply``)."""
        raw = json.dumps(obj).encode() if self.fmt == JSON else msgpack.packb(obj)
        if not self.write(raw, 0x1 if self.fmt == JSON else 0x2):
            return False
        self.pending += 1
        self.reader.keep = True
        return True

    def on_close_frame(self, code: int) -> None:
        """Count the server's close code in the stats."""
        self.stats.close_codes[code] = self.stats.close_codes.get(code, 0) + 1

    def on_lost(self) -> None:
        """Count the closed connection and fail a wait for the first frame still pending."""
        self.stats.closed += 1
        _fail(self.got_first, ConnectionError(f"closed before the snapshot ({self.close_code})"))


async def connect(
    host: str,
    port: int,
    make: Callable[[], C],
    timeout: float,
    opened: Callable[[C], Awaitable[None]],
) -> C:
    """Connect the protocol ``make()`` builds and wait for its handshake, then for
    ``opened(conn)``, all within ``timeout`` seconds; on any failure close it."""
    loop = asyncio.get_running_loop()
    made: list[C] = []

    def factory() -> C:
        made.append(make())
        return made[0]

    try:
        async with asyncio.timeout(timeout):
            await loop.create_connection(factory, host, port)
            await made[0].ready
            await opened(made[0])
    except BaseException:
        for proto in made:
            proto.close()
        raise
    return made[0]


async def open_viewer(
    host: str,
    port: int,
    path: str,
    *,
    sample: bool,
    fmt: str,
    stats: ViewerStats,
    timeout: float = 30.0,
    **kwargs: Any,
) -> Viewer:
    """Connect a :class:`Viewer` and wait for its first frame (snapshot or resume)."""
    return await connect(
        host,
        port,
        lambda: Viewer(path, sample, fmt, stats, **kwargs),
        timeout,
        lambda v: v.got_first,
    )


class VideoViewer(WsConn):
    """A ``/ws/video/{room}`` viewer: counts fragments; a sample one records how far
    behind live each video fragment arrives (header microseconds vs. this clock)."""

    def __init__(self, path: str, sample: bool, delays: list[float]) -> None:
        super().__init__(path, keep=sample, keep_small=256)
        self.sample = sample
        self.delays = delays
        self.status = "connecting"

    def on_message(self, opcode: int, payload: bytes) -> None:
        """A status text frame sets ``status``; a video fragment sets it to ``live`` and
        records how far behind live it arrived."""
        if opcode == 0x1:
            with contextlib.suppress(ValueError):
                self.status = str(json.loads(payload).get("type", "?"))
            return
        if len(payload) >= 16 and payload[0] == 2 and payload[3] == 0:  # video fragment
            self.status = "live"
            (produced,) = struct.unpack_from("!Q", payload, 8)
            self.delays.append(time.time() * 1000 - produced / 1000)


class EioViewer(WsConn):
    """A Socket.IO client over Engine.IO v4 on a raw WebSocket.

    ``0{...}`` (open) -> send ``40``; ``40{...}`` = joined; ``2`` (ping) -> ``3``;
    ``42["chat", {..., "ts": ms}]`` is a chat message. Light viewers keep only the
    one-byte frames (pings) and count the rest.
    """

    def __init__(self, path: str, sample: bool, stats: ViewerStats) -> None:
        super().__init__(path, keep=True, keep_small=1)
        self.sample = sample
        self.stats = stats
        self.joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.measuring = False
        self.pings = 0

    @property
    def messages(self) -> int:
        """Socket.IO event frames received (everything but the handshake and pings)."""
        return max(0, self.reader.frames - self.reader.control - 2 - self.pings)

    def on_message(self, opcode: int, payload: bytes) -> None:
        """Answer pings and go through the Socket.IO handshake until joined; then count and
        measure chat events while ``measuring``."""
        if payload == b"2":
            self.pings += 1
            self.write(b"3")
            return
        if not self.joined.done():
            if payload[:1] == b"0":
                self.write(b"40")
            elif payload[:2] == b"40":
                self.joined.set_result(None)
                self.reader.keep = self.sample
            elif payload[:2] == b"44":
                _fail(self.joined, ConnectionError(payload[:80].decode()))
            return
        if self.measuring and payload[:2] == b"42":
            name, data = json.loads(payload[2:])[:2]
            if name == "chat":
                self.stats.chat += 1
                self.stats.latencies.append(time.time() * 1000 - data["ts"])

    def emit(self, event: str, data: Any) -> bool:
        """Send a Socket.IO event ``event`` with ``data``; False when the connection is
        closed."""
        return self.write(b"42" + json.dumps([event, data]).encode())

    def on_close_frame(self, code: int) -> None:
        """Count the server's close code in the stats."""
        self.stats.close_codes[code] = self.stats.close_codes.get(code, 0) + 1

    def on_lost(self) -> None:
        """Count the closed connection and fail a join still waiting."""
        self.stats.closed += 1
        _fail(self.joined, ConnectionError("closed before joining"))
