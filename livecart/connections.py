"""Connection hygiene for aiohttp apps: who a request is from, how many sockets each
address may hold, which pages may open them, and masked client frames.

- ``client_address(request)``: the one place that says where a request came from
  (``livecart.addresses``: ``X-Forwarded-For`` only from ``trusted_proxies``). Every
  per-address rule (socket caps, chat budgets, address bans, WHIP attempts) uses it.
- ``Gate.admit(request)``: a context manager around a WebSocket handler. Before the
  upgrade it refuses with 403 an ``Origin`` that ``livecart.origins`` does not allow, and
  with 429 (+ ``Retry-After``) an address that already holds ``max_per_address`` sockets
  in this process (chat ``/ws/{room}`` and video ``/ws/video/{room}`` together; IPv6 by
  /64). The socket counts until the block ends (``claim``/``release``: until the
  caller says it ended, for a socket served after its handler returned). 0: no cap.
- ``MaskedWebSocketResponse``: a ``web.WebSocketResponse`` whose reader closes the
  connection with 1002 when the client sends an unmasked frame (RFC 6455 section 5.1;
  aiohttp's readers, Python and C, accept them).

``setup(app, gate)`` hangs the gate on the app (``GATE``); ``gate(app)`` finds it, and
sets a default one on apps that never had one (only before the app starts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WebSocketError, WSCloseCode, web

from livecart.addresses import Network, address_key
from livecart.addresses import client_address as _client_address
from livecart.aiohttp_internals import ParserHookResponse
from livecart.origins import origin_allowed
from livecart.ws_mask import MaskCheck

DEFAULT_MAX_SOCKETS_PER_ADDRESS = 100


@dataclass
class Gate:
    """The process's WebSocket gate: which origins may open sockets, how many each client
    address may hold (``max_per_address``; 0: no cap), and whose ``X-Forwarded-For`` is
    trusted. ``admit`` refuses before the upgrade (403, 429) and counts the socket until it
    ends; counts are per process, never shared between nodes."""

    trusted_proxies: tuple[Network, ...] = ()
    max_per_address: int = DEFAULT_MAX_SOCKETS_PER_ADDRESS
    public_url: str | None = None
    allowed_origins: tuple[str, ...] = ()
    open: Counter[str] = field(default_factory=Counter)
    """Open sockets per ``address_key`` in this process."""
    refused: Counter[str] = field(default_factory=Counter)
    """Refusals by reason (``origin``, ``per_address``), for /metrics and tests."""

    def address(self, request: web.BaseRequest) -> str:
        """Where ``request`` came from (``X-Forwarded-For`` only from a trusted proxy)."""
        return _client_address(
            request.remote, request.headers.get("X-Forwarded-For"), self.trusted_proxies
        )

    @contextmanager
    def admit(self, request: web.BaseRequest) -> Iterator[str]:
        """Check ``Origin`` and this address's socket count; yield the client address.
        Raises ``web.HTTPForbidden`` / ``web.HTTPTooManyRequests`` (nothing counted)."""
        address = self.claim(request)
        try:
            yield address
        finally:
            self.release(address)

    def claim(self, request: web.BaseRequest) -> str:
        """``admit`` for a socket that outlives its handler: the same checks and count,
        kept until ``release(address)`` is called once for it."""
        headers = request.headers
        if not origin_allowed(
            headers.get("Origin"), headers.get("Host"), self.public_url, self.allowed_origins
        ):
            self.refused["origin"] += 1
            raise web.HTTPForbidden(text="origin not allowed\n")
        address = self.address(request)
        key = address_key(address)
        if self.max_per_address and self.open[key] >= self.max_per_address:
            self.refused["per_address"] += 1
            raise web.HTTPTooManyRequests(
                text="too many connections from this address\n", headers={"Retry-After": "5"}
            )
        self.open[key] += 1
        return address

    def release(self, address: str) -> None:
        """The socket ``claim`` counted for ``address`` has ended."""
        key = address_key(address)
        self.open[key] -= 1
        if self.open[key] <= 0:
            del self.open[key]


GATE = web.AppKey("connection_gate", Gate)


def setup(app: web.Application, gate: Gate) -> None:
    app[GATE] = gate


def gate(app: web.Application) -> Gate:
    """The app's gate; an app without one gets the default gate (call before start)."""
    found = app.get(GATE)
    if found is None:
        found = app[GATE] = Gate()
    return found


def client_address(request: web.BaseRequest) -> str:
    """Where ``request`` came from, as the app's gate sees it (see ``livecart.addresses``)."""
    found = request.app.get(GATE) if isinstance(request, web.Request) else None
    return (found or Gate()).address(request)


class _MaskGuard:
    """Sits between aiohttp's protocol and its WebSocket reader; stops at an unmasked
    frame: the frames before it are read, then the reader fails with 1002."""

    __slots__ = ("_check", "_inner", "_queue")

    def __init__(self, inner: Any, queue: Any) -> None:
        self._inner = inner
        self._queue = queue
        self._check = MaskCheck()

    def feed_eof(self) -> None:
        self._inner.feed_eof()

    def feed_data(self, data: bytes | bytearray | memoryview) -> tuple[bool, bytes]:
        data = bytes(data)
        bad = self._check.feed(data)
        if bad is None:
            result: tuple[bool, bytes] = self._inner.feed_data(data)
            return result
        if bad > 0:
            self._inner.feed_data(data[:bad])
        self._queue.set_exception(
            WebSocketError(WSCloseCode.PROTOCOL_ERROR, "client frames must be masked")
        )
        return True, b""


class MaskedWebSocketResponse(ParserHookResponse):
    """A server WebSocket that closes with 1002 on an unmasked client frame."""

    def wrap_parser(self, parser: Any, queue: Any) -> Any:
        """The aiohttp frame parser wrapped so that an unmasked client frame fails the
        connection."""
        return _MaskGuard(parser, queue)
