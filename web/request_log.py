"""The web layer's part of the logs: request ids, the room in context, access lines.

- ``request_context`` (the outermost middleware) gives every HTTP request and WebSocket
  session a request id (the client's ``X-Request-Id`` when ``redaction.request_id``
  accepts it, else a new one), returns it as the ``X-Request-Id`` response header (set
  when the response is prepared, so WebSocket handshakes and streamed responses carry
  it too), and sets the ``log_format`` context variables for the request id and the
  ``{room}`` of the route while the handler runs. An exception no inner layer turned
  into a response is logged here, with those ids, and answered with a JSON 500 (when
  no response was started yet; else aiohttp closes the connection).
- ``AccessLogger`` is aiohttp's access logger class: one INFO line on
  ``livecart.access`` per request once its response is written (for a WebSocket, when
  the session ends), with ``method``, ``path`` (no query string: ``redaction.log_path``),
  ``status``, ``duration_ms``, ``remote``, ``room`` and ``request_id`` fields.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from livecart.web import log_format, redaction

HEADER = "X-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)
PREPARED = web.RequestKey("response_prepared", bool)

log = logging.getLogger(__name__)


@web.middleware
async def request_context(request: web.Request, handler: Any) -> web.StreamResponse:
    rid = redaction.request_id(request.headers.get(HEADER))
    request[REQUEST_ID] = rid
    rid_token = log_format.REQUEST_ID.set(rid)
    room_token = log_format.ROOM.set(request.match_info.get("room"))
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except (web.HTTPException, TimeoutError):
        raise  # a response, and aiohttp's 504
    except Exception:
        log.exception("unhandled error in %s %s", request.method, redaction.log_path(request.path))
        if request.get(PREPARED):
            raise  # bytes are out: aiohttp closes the connection
        return web.json_response(
            {"error": {"code": "internal", "message": "internal error"}}, status=500
        )
    finally:
        log_format.ROOM.reset(room_token)
        log_format.REQUEST_ID.reset(rid_token)


async def _add_header(request: web.Request, response: web.StreamResponse) -> None:
    request[PREPARED] = True
    rid = request.get(REQUEST_ID)
    if rid is not None:
        response.headers[HEADER] = rid


def setup_request_log(app: web.Application) -> None:
    """Put ``request_context`` in front of ``app``'s middlewares and send the header."""
    app.middlewares.insert(0, request_context)
    app.on_response_prepare.append(_add_header)


class AccessLogger(AbstractAccessLogger):
    """One line per request on ``livecart.access`` (pass it as ``access_log_class``)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log one line for a finished request: method, redacted path, status, duration and
        room."""
        path = redaction.log_path(request.path)
        match_info = getattr(request, "match_info", None)
        room = match_info.get("room") if match_info is not None else None
        duration_ms = round(time * 1000, 1)
        self.logger.info(
            "%s %s %d %.1fms",
            request.method,
            path,
            response.status,
            duration_ms,
            extra={
                "method": request.method,
                "path": path,
                "status": response.status,
                "duration_ms": duration_ms,
                "remote": request.remote,
                "room": room,
                "request_id": request.get(REQUEST_ID) or response.headers.get(HEADER),
            },
        )

    @property
    def enabled(self) -> bool:
        """Whether access lines are logged at all (``livecart.access`` at INFO)."""
        return self.logger.isEnabledFor(logging.INFO)
