"""The one place that reaches into aiohttp's internals (aiohttp ``SUPPORTED``).

Everything else (``web.ws_handler``, ``livecart.connections``) uses aiohttp's public
API and this module. What we touch, and why:

- **The WebSocket handshake without a WebSocketResponse**
  (``WebSocketResponse._handshake``): ``websocket_handshake`` runs aiohttp's checks of
  an upgrade request and builds the 101's headers, so that the chat socket can answer
  the upgrade with a plain ``StreamResponse`` and no reader, parser or timer.
- **Taking the socket over from aiohttp** (``RequestHandler``, 3.14): after a 101 sent
  without a payload parser, the handler keeps whatever the client sends in
  ``_message_tail``, unparsed (a client's first frame may be there already: it may send
  it in the same packet as its request); and once its ``transport`` is None,
  ``connection_lost`` only forgets the connection (``force_close`` closes a transport
  only when it has one), so the transport, served from then on by our protocol, stays
  open. ``take_socket`` does both and returns those bytes; if aiohttp renamed
  ``_message_tail``, the first frame would be lost without a word.
- **Wrapping a WebSocketResponse's frame parser** (``WebSocketResponse._post_start``,
  ``RequestHandler._payload_parser``, ``WebSocketResponse._reader``):
  ``ParserHookResponse`` puts an object of ours between aiohttp's protocol and its
  ``WebSocketReader`` (``livecart.connections`` refuses unmasked frames with it).

``check_aiohttp`` refuses an aiohttp outside ``SUPPORTED`` or whose internals are not
these (it runs when the app starts, ``web.app.create_app``).
``tests/node/test_aiohttp_internals.py`` checks each one against a real server and
fails when aiohttp moves it: then adapt this module (and ``SUPPORTED``, and
pyproject.toml's range) rather than loosen the test.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from livecart.library_versions import in_range

SUPPORTED = ">=3.14.5,<3.15"
"""The aiohttp releases this module was written for and tested with (pyproject.toml's
range for ``aiohttp``; a test keeps the two the same)."""


class AiohttpInternalsChanged(RuntimeError):
    """The installed aiohttp is not one whose internals this module knows."""


def check_aiohttp() -> None:
    """Raise ``AiohttpInternalsChanged`` unless the installed aiohttp is in ``SUPPORTED``
    and has every internal this module touches (read from its source, no I/O)."""
    installed = aiohttp.__version__
    if not in_range(installed, SUPPORTED):
        raise AiohttpInternalsChanged(
            f"aiohttp {installed} is installed; livecart supports aiohttp {SUPPORTED} "
            "(livecart/aiohttp_internals.py reaches into its internals): install a "
            "supported release (make install), or adapt that module and its tests"
        )
    problems: list[str] = []
    slots = set(getattr(RequestHandler, "__slots__", ()))
    for attr in ("_message_tail", "_payload_parser"):
        if attr not in slots:
            problems.append(f"RequestHandler has no {attr}")
    received = inspect.getsource(RequestHandler.data_received)
    if "self._message_tail += data" not in received:
        problems.append("RequestHandler.data_received no longer keeps bytes after an upgrade")
    if "self._message_tail = tail" not in received:
        problems.append("RequestHandler.data_received no longer keeps the upgrade's tail")
    lost = inspect.getsource(RequestHandler.connection_lost)
    if "self.force_close()" not in lost:
        problems.append("RequestHandler.connection_lost no longer goes through force_close")
    if "self.transport is not None" not in inspect.getsource(RequestHandler.force_close):
        problems.append("RequestHandler.force_close closes a transport it no longer holds")
    handshake = getattr(web.WebSocketResponse, "_handshake", None)
    if handshake is None or list(inspect.signature(handshake).parameters) != ["self", "request"]:
        problems.append("WebSocketResponse._handshake(request) is gone")
    post_start = getattr(web.WebSocketResponse, "_post_start", None)
    if post_start is None:
        problems.append("WebSocketResponse._post_start is gone")
    else:
        params = list(inspect.signature(post_start).parameters)
        if params != ["self", "request", "protocol", "writer"]:
            problems.append(f"WebSocketResponse._post_start takes {params}")
        source = inspect.getsource(post_start)
        if "self._reader = " not in source or ".set_parser(self._parser" not in source:
            problems.append("WebSocketResponse._post_start no longer sets _reader and the parser")
    if problems:
        raise AiohttpInternalsChanged(
            f"aiohttp {installed}: " + "; ".join(problems) + " (see livecart/aiohttp_internals.py)"
        )


def websocket_handshake(request: web.Request, protocols: Sequence[str]) -> tuple[Any, str | None]:
    """aiohttp's checks of a WebSocket upgrade request (``HTTPBadRequest`` when it is
    not one) and the 101's headers, with the subprotocol chosen from ``protocols``; no
    compression."""
    probe = web.WebSocketResponse(protocols=protocols, compress=False)
    headers, protocol, _compress, _notakeover = probe._handshake(request)
    return headers, protocol


def take_socket(request: web.Request) -> bytes:
    """Make aiohttp forget ``request``'s connection, after a 101 sent without a payload
    parser, leaving its transport open; return the bytes the client sent after its
    request that aiohttp kept unparsed (frames the new protocol must read first)."""
    handler: Any = request.protocol
    pending = bytes(handler._message_tail or b"")
    handler._message_tail = b""
    handler.transport = None
    handler.connection_lost(None)
    return pending


class ParserHookResponse(web.WebSocketResponse):
    """A ``WebSocketResponse`` whose incoming bytes go through ``wrap_parser``'s object
    before aiohttp's ``WebSocketReader``."""

    def wrap_parser(self, parser: Any, queue: Any) -> Any:
        """What stands in for aiohttp's ``parser`` (``feed_data`` returning ``(eof,
        tail)``, ``feed_eof``); ``queue`` is the response's message queue
        (``set_exception`` fails the reader). Subclasses override it."""
        return parser

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        super()._post_start(request, protocol, writer)
        handler: Any = request.protocol
        inner = handler._payload_parser  # aiohttp's WebSocketReader (C or Python)
        if inner is not None:
            handler._payload_parser = self.wrap_parser(inner, self._reader)
