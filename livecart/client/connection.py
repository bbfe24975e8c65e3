"""The I/O around ``ClientProtocol``: one room over ``websockets``, reconnecting itself.

``connect(url, room, ...)`` opens the socket, waits for the first frame and returns a
``RoomConnection`` (use it as ``async with`` or ``await`` it and ``close()`` later).
From then on one task pumps frames: each is decoded by the wire codec
(``livecart.chat.codec``), read by the protocol, folded into ``state`` and queued for
``events()``, followed by the auction and giveaway markers it gave rise to
(``livecart.client.auctions``); a reply completes the command waiting for it.

When the connection drops, pending commands raise ``Disconnected``, ``events()`` yields
``ConnectionLost``, and the task reconnects with the protocol's backoff, asking to
resume from the last event it queued (``since``/``epoch``, with the viewer token). What
follows is ``Resumed`` and the missed events, or ``Reset`` with a fresh snapshot: each
event exactly once, in order. Close codes 4001, 4003 and 4004 end it (``Closed``), as
does any drop with ``reconnect=False``. The first connection is not retried: its
failure raises from ``connect``.

``events()`` is for one consumer; the queue behind it is not bounded, so read it (or
do not call it at all: then nothing is kept beyond ``state``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Generator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from livecart.chat.codec import WireFormat, auth_protocol, decode, encode_json, encode_msgpack
from livecart.chat.errors import ProtocolError
from livecart.client.auctions import AuctionMarker, BidResult, GiveawayMarker
from livecart.client.commands import Commands, new_key
from livecart.client.errors import FINAL_CLOSE_CODES, Closed, CommandError, Disconnected
from livecart.client.events import ConnectionLost, Event, Reply, Snapshot, You
from livecart.client.protocol import Backoff, ClientProtocol
from livecart.client.state import RoomView

log = logging.getLogger(__name__)

FORMATS = {"json": WireFormat.JSON, "msgpack": WireFormat.MSGPACK}
MAX_SERVER_FRAME = 16 * 1024 * 1024  # a resume carries up to 1,000 events
OPEN_TIMEOUT = 10.0
COMMAND_TIMEOUT = 15.0


def room_url(url: str, room: str, query: Mapping[str, str]) -> str:
    """``ws(s)://host/ws/<room>?<query>`` from a server's ``http(s)://`` or ``ws(s)://``
    base URL."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not an http(s) or ws(s) URL: {url!r}")
    path = parts.path.rstrip("/") + "/ws/" + quote(room, safe="")
    return urlunsplit((scheme, parts.netloc, path, urlencode(dict(query)), ""))


class _End:
    """The end of ``events()``: ``error`` is raised there, ``None`` ends it quietly."""

    def __init__(self, error: Closed | None) -> None:
        self.error = error


class RoomConnection(Commands):
    """One client in one room. ``snapshot`` is the join's room, ``state`` the room now
    (as of the last frame received), ``you`` this connection's identity."""

    def __init__(
        self,
        url: str,
        room: str,
        *,
        name: str | None,
        token: str | None,
        protocol: ClientProtocol,
        fmt: WireFormat,
        reconnect: bool,
        backoff: Backoff,
        command_timeout: float,
    ) -> None:
        self.url = url
        self.room_id = room
        self.fmt = fmt
        self.protocol = protocol
        self.reconnect = reconnect
        self.backoff = backoff
        self.command_timeout = command_timeout
        self._fixed = {"name": name} if name else {}
        self._offer = [Subprotocol(fmt.value)]
        if token:  # the host token rides in the subprotocol list, never in the URL
            self._offer.append(Subprotocol(auth_protocol(token)))
        self._view: RoomView | None = None
        self._ws: ClientConnection | None = None
        self._joined = asyncio.Event()
        self._pending: dict[int | str, asyncio.Future[Reply]] = {}
        self._queue: asyncio.Queue[Event | _End] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._ended: Closed | None = None
        self._closing = False

    # -- what the room looks like ------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot (the join's, or the one of the latest ``Reset``)."""
        assert self.protocol.snapshot is not None, "not connected yet"
        return self.protocol.snapshot

    @property
    def state(self) -> RoomView:
        """The room as this client holds it now. Only once connected."""
        assert self._view is not None, "not connected yet"
        return self._view

    @property
    def you(self) -> You:
        """Who this client is in the room. Only once connected."""
        assert self.protocol.you is not None, "not connected yet"
        return self.protocol.you

    @property
    def connected(self) -> bool:
        """True while a connection has joined the room and the client was not ended."""
        return self._joined.is_set() and self._ended is None

    async def events(self) -> AsyncIterator[Event]:
        """Every event from the join on, in order, once each; markers between them.
        Ends after ``close()``; raises ``Closed`` when the server ended the connection
        for good."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _End):
                self._queue.put_nowait(item)  # a second reader ends too
                if item.error is not None:
                    raise item.error
                return
            yield item

    # -- commands ------------------------------------------------------------------------

    async def command(
        self, cmd: str, /, *, timeout: float | None = None, **args: Any
    ) -> Mapping[str, Any]:
        """Send ``cmd`` and return its reply's ``data``. Raises ``CommandError`` (an
        error reply), ``Disconnected`` (lost before the reply), ``Closed``, or
        ``TimeoutError`` (no reply within ``timeout``, default ``command_timeout``; a
        command sent while reconnecting waits for the connection within it)."""
        async with asyncio.timeout(self.command_timeout if timeout is None else timeout):
            while self._ended is None and not self._joined.is_set():
                await self._joined.wait()
            ws = self._ws
            if self._ended is not None or ws is None:
                raise self._ended or Disconnected(f"{cmd}: not connected")
            cid, frame = self.protocol.command(cmd, args)
            future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self._pending[cid] = future
            try:
                await ws.send(self._encode(frame))
                reply = await future
            except ConnectionClosed as exc:
                raise Disconnected(f"{cmd}: connection lost before the reply") from exc
            finally:
                self._pending.pop(cid, None)
        return reply.result()

    async def bid_next(self, key: str | None = None, card: str | None = None) -> BidResult:
        """A one-tap bid: the current auction's ``next_bid`` as ``state`` holds it.
        Raises ``CommandError`` ``not_found`` when the room has no running auction, and
        ``bid_too_low`` when a rival's bid moved the price before this one arrived (the
        reply's ``message`` gives the next bid); otherwise as ``bid``."""
        auction = self.state.auction
        if auction is None or not auction.running:
            raise CommandError("not_found", "no running auction")
        return await self.bid(auction.id, auction.next_bid, key or new_key(), card)

    # -- life cycle ----------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection (1000) and stop reconnecting; ``events()`` ends."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._end(None, Closed(None, "closed by the client"))

    async def __aenter__(self) -> RoomConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect and wait for the first frame. Raises ``Closed`` for a close frame
        instead (4001, 4004, ...) and the transport's errors (``OSError``,
        ``websockets.exceptions.InvalidHandshake``, ``TimeoutError``) as they are."""
        ws = await self._connect_once()
        self._task = asyncio.create_task(self._run(ws), name=f"livecart-client-{self.room_id}")

    async def _connect_once(self) -> ClientConnection:
        url = room_url(self.url, self.room_id, {**self._fixed, **self.protocol.query()})
        async with asyncio.timeout(OPEN_TIMEOUT):
            ws = await ws_connect(
                url,
                subprotocols=self._offer,
                compression=None,
                max_size=MAX_SERVER_FRAME,
            )
            try:
                while self._on_message(await ws.recv()) is False:
                    pass
            except ConnectionClosed:
                raise Closed(ws.close_code, ws.close_reason or "") from None
            except BaseException:
                await ws.close()
                raise
        self._ws = ws
        self._joined.set()
        return ws

    async def _run(self, ws: ClientConnection) -> None:
        try:
            await self._pump(ws)
        except Exception:  # a bug of ours: end visibly rather than hang the readers
            log.exception("room %s: the client failed", self.room_id)
            self._end(Closed(1011, "client failure"), Closed(1011, "client failure"))
            with contextlib.suppress(Exception):
                if self._ws is not None:
                    await self._ws.close()

    async def _pump(self, ws: ClientConnection) -> None:
        while True:
            with contextlib.suppress(ConnectionClosed):
                async for message in ws:
                    self._on_message(message)
            self._joined.clear()
            self._ws = None
            code, reason = ws.close_code or 1006, ws.close_reason or ""
            self._fail_pending(code)
            if self._closing:
                return
            if code in FINAL_CLOSE_CODES or not self.reconnect:
                self._end(Closed(code, reason), Closed(code, reason))
                return
            self._queue.put_nowait(ConnectionLost(code, reason))
            next_ws = await self._reconnect()
            if next_ws is None:
                return
            ws = next_ws

    async def _reconnect(self) -> ClientConnection | None:
        while True:
            await asyncio.sleep(self.backoff.next_delay())
            try:
                ws = await self._connect_once()
            except Closed as exc:
                if exc.code in FINAL_CLOSE_CODES:
                    self._end(exc, exc)
                    return None
                log.info("room %s: reconnect closed with %s", self.room_id, exc.code)
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                log.info("room %s: reconnect failed: %r", self.room_id, exc)
            else:
                self.backoff.reset()
                return ws

    def _on_message(self, message: str | bytes) -> bool:
        """Handle one frame; True when it was a first frame (snapshot or resume)."""
        try:
            frame = decode(self.fmt, message)
            items = self.protocol.receive(frame)
        except (ProtocolError, ValueError) as exc:
            log.warning("room %s: dropped a frame the client cannot read: %s", self.room_id, exc)
            return False
        for item in items:
            if isinstance(item, Reply):
                future = self._pending.get(item.id) if item.id is not None else None
                if future is not None and not future.done():
                    future.set_result(item)
                continue
            markers = self._fold(item)
            self._queue.put_nowait(item)
            for marker in markers:
                self._queue.put_nowait(marker)
        if self._view is None and self.protocol.snapshot is not None:
            self._view = RoomView.from_snapshot(self.protocol.snapshot)
        return frame.get("t") in ("snapshot", "resume")

    def _fold(self, item: Event) -> list[AuctionMarker | GiveawayMarker]:
        return [] if self._view is None else self._view.apply(item)

    def _bid_accepted(self, auction_id: str, max_bid: int) -> None:
        if self._view is not None:
            self._view.note_bid(auction_id, max_bid)

    def _encode(self, frame: dict[str, Any]) -> str | bytes:
        if self.fmt is WireFormat.JSON:
            return encode_json(frame).decode()
        return encode_msgpack(frame)

    def _fail_pending(self, code: int) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(Disconnected(f"connection lost ({code}) before the reply"))
        self._pending.clear()

    def _end(self, raised: Closed | None, state: Closed) -> None:
        """Stop for good: ``events()`` ends (raising ``raised``), commands raise ``state``."""
        if self._ended is not None:
            return
        self._ended = state
        self._joined.set()  # wakes the commands waiting for a connection: they raise
        self._fail_pending(state.code or 1000)
        self._queue.put_nowait(_End(raised))


class _Connecting:
    """``connect(...)``: ``async with`` it, or ``await`` it for the open connection."""

    def __init__(self, connection: RoomConnection) -> None:
        self._connection = connection

    def __await__(self) -> Generator[Any, None, RoomConnection]:
        return self._open().__await__()

    async def _open(self) -> RoomConnection:
        await self._connection.open()
        return self._connection

    async def __aenter__(self) -> RoomConnection:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._connection.close()


def connect(
    url: str,
    room: str,
    *,
    name: str | None = None,
    token: str | None = None,
    viewer_token: str | None = None,
    subprotocol: str = "json",
    reconnect: bool = True,
    backoff: Backoff | None = None,
    command_timeout: float = COMMAND_TIMEOUT,
) -> _Connecting:
    """Join ``room`` on the server at ``url`` (``http://host:port`` or ``ws://...``).

    ``name``: the display name; ``token``: the room's host token (joins as host);
    ``viewer_token``: ``you.token`` of an earlier connection (keeps the identity);
    ``subprotocol``: ``"json"`` or ``"msgpack"``; ``backoff``: the reconnect delays
    (default: the protocol's 0.5 s doubling to 10 s, with jitter).
    """
    fmt = FORMATS.get(subprotocol) or WireFormat(subprotocol)
    connection = RoomConnection(
        url,
        room,
        name=name,
        token=token,
        protocol=ClientProtocol(viewer_token),
        fmt=fmt,
        reconnect=reconnect,
        backoff=backoff or Backoff(),
        command_timeout=command_timeout,
    )
    return _Connecting(connection)
