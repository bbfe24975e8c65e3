"""A chat WebSocket after its handshake: a bare ``asyncio.Protocol`` on the socket.

aiohttp does the HTTP part of ``GET /ws/{room}`` (``ws_handler``); once the session has
joined, the handler hands the transport to a ``WsConnection`` and returns, so an idle
viewer holds no coroutine, task, request, parser or timer of its own: only this object,
its ``ClientFrames`` reader (empty while idle) and its ``Session``.

Contracts:

- client frames are read by ``livecart.ws_reader`` (masking, fragmentation, 16 KiB
  messages, UTF-8); a frame that breaks the protocol closes with its code (1002, 1007,
  1009). A ping gets its pong; a close gets a close (1000) and the FIN.
- text and binary messages are queued and handled one at a time, in order
  (``Hub.handle``), by a task that exists only while the queue is not empty and the
  session has joined; past ``INBOX_PAUSE`` queued messages the socket stops being read
  until the queue is down to ``INBOX_RESUME``.
- ``close(code, reason)`` (the session's ``closer``) sends a close frame and waits up to
  ``CLOSE_TIMEOUT`` seconds for the peer's before closing the transport; frames the peer
  sends meanwhile are ignored.
- dead peers: ``Heartbeat`` looks at every connection every ``interval / 6`` seconds;
  one silent for ``interval`` seconds gets a ping, and one still silent ``interval / 2``
  seconds after it is reset (RST: nothing it has queued outlives it). Any bytes from
  the peer count as a sign of life.
- when the connection ends (``connection_lost``) the session leaves the hub, the
  per-address count is released (``on_end``) and the heartbeat forgets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from livecart.chat.codec import WireFormat, decode
from livecart.chat.errors import CloseCode, ProtocolError
from livecart.chat.hub import Hub
from livecart.chat.session import Session
from livecart.limits import MAX_CLIENT_FRAME_BYTES
from livecart.tcp import reset
from livecart.ws_reader import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, ClientFrames, FrameError
from livecart.wsframe import build_frame, close_frame

log = logging.getLogger(__name__)

INBOX_PAUSE = 32
INBOX_RESUME = 8
CLOSE_TIMEOUT = 10.0
OP_PONG = 0xA
_PING = build_frame(0x9, b"")


class WsConnection(asyncio.Protocol):
    """One chat WebSocket after its handshake, as a bare ``asyncio.Protocol``: reads client
    frames, hands messages to ``Hub.handle`` one at a time in order, and closes as the
    module docstring says. Holds no task while idle; never awaits a write."""

    __slots__ = (
        "_close_timer",
        "_context",
        "_frames",
        "_heartbeat",
        "_inbox",
        "_pump",
        "closing",
        "ended",
        "fmt",
        "heard_at",
        "hub",
        "joined",
        "on_end",
        "ping_at",
        "session",
        "transport",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        hub: Hub,
        fmt: WireFormat,
        heartbeat: Heartbeat,
        on_end: Callable[[], None],
    ) -> None:
        self.transport = transport
        self.hub = hub
        self.fmt = fmt
        self.session: Session | None = None
        self.on_end: Callable[[], None] | None = on_end
        self._heartbeat = heartbeat
        self._frames: ClientFrames | None = ClientFrames(MAX_CLIENT_FRAME_BYTES)
        self._inbox: deque[str | bytes] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._context = contextvars.copy_context()  # the request's log fields, for the pump
        self.joined = False
        self.closing = False
        self.ended = False
        self.heard_at = time.monotonic()
        self.ping_at = 0.0

    # -- taking over from aiohttp ------------------------------------------------------

    def take_over(self, pending: bytes) -> None:
        """Become the socket's protocol; ``pending`` is what arrived before."""
        transport = self.transport
        transport.set_protocol(self)
        self._heartbeat.add(self)
        if pending:
            self.data_received(pending)
        if not transport.is_closing() and not transport.is_reading():
            transport.resume_reading()

    def start(self) -> None:
        """The session has joined: handle what it sent meanwhile."""
        self.joined = True
        if self._inbox and self._pump is None:
            self._start_pump()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Bytes from the peer (a sign of life): decoded into frames; a protocol error
        closes with its code, and a full inbox pauses reading."""
        self.heard_at = time.monotonic()
        self.ping_at = 0.0
        reader = self._frames
        if reader is None:
            return  # past a protocol error: nothing more is read
        try:
            frames = reader.feed(data)
        except FrameError as exc:
            self._frames = None
            self._fail(exc.code, exc.reason)
            return
        for opcode, payload in frames:
            if opcode in (OP_TEXT, OP_BINARY):
                if not self.closing:
                    self._queue(payload)  # type: ignore[arg-type]
            elif opcode == OP_PING:
                if not self.closing:
                    self.transport.write(build_frame(OP_PONG, payload))  # type: ignore[arg-type]
            elif opcode == OP_CLOSE:
                self._peer_closed()
                return

    def eof_received(self) -> bool | None:
        # The peer went away without a close frame: drop what is queued for it at once.
        """The peer closed its side without a close frame: unless we are closing, reset the
        connection (nothing queued for it is sent)."""
        if not self.closing:
            reset(self.transport)
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection ended: leave the hub, release the per-address count and leave the
        heartbeat, once."""
        if self.ended:
            return
        self.ended = True
        self._heartbeat.discard(self)
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if self._inbox:
            self._inbox.clear()
        session = self.session
        if session is not None and self.joined:
            self.hub.leave(session)
        on_end, self.on_end = self.on_end, None
        if on_end is not None:
            on_end()

    # -- closing ---------------------------------------------------------------------------

    def close(self, code: int, reason: str = "") -> None:
        """Send a close frame, then close once the peer answers (or ``CLOSE_TIMEOUT``)."""
        if self.closing or self.ended:
            return
        self.closing = True
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(close_frame(code, reason))
        self._close_timer = asyncio.get_running_loop().call_later(
            CLOSE_TIMEOUT, self._close_timed_out
        )

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _peer_closed(self) -> None:
        if not self.closing:
            self.closing = True
            if self.session is not None:
                self.session.closed = True
            self.transport.write(close_frame(CloseCode.NORMAL))
        self.transport.close()

    def _fail(self, code: int, reason: str) -> None:
        """A protocol error: the close frame, then the FIN (nothing more is read)."""
        session = self.session
        if session is not None and not session.closed:
            session.closed = True
            session.close_code = code
        self.close(code, reason)
        self.transport.close()

    def drop(self) -> None:
        """The peer stopped answering: reset the connection (RST)."""
        if not self.ended:
            reset(self.transport)

    # -- commands --------------------------------------------------------------------------

    def _queue(self, payload: str | bytes) -> None:
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(payload)
        if len(inbox) >= INBOX_PAUSE and self.transport.is_reading():
            self.transport.pause_reading()
        if self.joined and self._pump is None:
            self._start_pump()

    def _start_pump(self) -> None:
        loop = asyncio.get_running_loop()
        self._pump = loop.create_task(self._run_pump(), context=self._context)

    async def _run_pump(self) -> None:
        """Handle the queued messages one at a time, in order; end when none is left."""
        session, inbox, hub, fmt = self.session, self._inbox, self.hub, self.fmt
        assert session is not None and inbox is not None
        try:
            while inbox and not session.closed and not self.ended:
                data = inbox.popleft()
                if len(inbox) <= INBOX_RESUME and not self.closing:
                    transport = self.transport
                    if not transport.is_closing() and not transport.is_reading():
                        transport.resume_reading()
                try:
                    obj = decode(fmt, data)
                except ProtocolError as exc:
                    session.send({"t": "reply", "id": None, "ok": False, "error": exc.as_dict()})
                    continue
                session.send(await hub.handle(session, obj))
        except Exception:
            log.exception("session %s in room %s failed", session.vid, session.room_id)
            session.close(CloseCode.INTERNAL, "internal error")
        finally:
            self._pump = None
            if session.closed or self.ended:
                inbox.clear()


class Heartbeat:
    """Finds dead peers among the ``WsConnection``s of one app (see the module docstring).

    One loop for all of them instead of a timer per socket: ``run()`` checks every
    connection every ``interval / 6`` seconds."""

    __slots__ = ("connections", "interval", "timeout")

    def __init__(self, interval: float = 30.0) -> None:
        if not 0.1 <= interval <= 3600.0:  # 0 would spin the loop; NaN compares false
            raise ValueError(f"ws_heartbeat must be 0.1-3600 seconds, not {interval!r}")
        self.interval = interval
        self.timeout = interval / 2
        self.connections: set[WsConnection] = set()

    def add(self, conn: WsConnection) -> None:
        """Watch ``conn`` from now on."""
        self.connections.add(conn)

    def discard(self, conn: WsConnection) -> None:
        """Stop watching ``conn``."""
        self.connections.discard(conn)

    def sweep(self, now: float) -> None:
        """Ping every connection silent for ``interval`` seconds and drop every one still
        silent ``timeout`` seconds after its ping."""
        interval, timeout = self.interval, self.timeout
        for conn in list(self.connections):
            ping_at = conn.ping_at
            if ping_at:
                if now - ping_at > timeout:
                    conn.drop()
            elif now - conn.heard_at > interval and not conn.closing:
                conn.ping_at = now
                conn.transport.write(_PING)

    async def run(self) -> None:
        """Sweep every ``interval / 6`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval / 6)
            self.sweep(time.monotonic())

    def close_all(self) -> None:
        """Shutdown: close what is left (the hub has sent its close frames already)."""
        for conn in list(self.connections):
            if not conn.transport.is_closing():
                conn.transport.close()


HEARTBEAT = web.AppKey("ws_heartbeat", Heartbeat)


@contextlib.asynccontextmanager
async def running(heartbeat: Heartbeat) -> AsyncIterator[Heartbeat]:
    """Run ``heartbeat`` until the block ends; then close the connections left."""
    task = asyncio.get_running_loop().create_task(heartbeat.run(), name="ws-heartbeat")
    try:
        yield heartbeat
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        heartbeat.close_all()
