"""``GET /api/openapi.json`` (the OpenAPI 3.1 document) and ``GET /api/docs`` (a page
that renders it).

The document is built once, at setup, from the operations the routes were registered
with (``livecart.openapi.document``), so it lists exactly what the server checks. The
page is ``web/static/api.html`` with ``/static/js/api-docs.js``: it loads nothing from
other servers (the pages' Content-Security-Policy forbids it anyway).

Routes that are not HTTP API (the HTML pages, static files, WebSockets, HLS) are left
out on purpose; ``UNDOCUMENTED`` lists them, and a test checks that every other route
the application registers appears in the document.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

import msgspec
from aiohttp import web

from livecart.http_contract import Operation, Reply
from livecart.openapi import document
from livecart.streamer import playback
from livecart.web import schemas as s
from livecart.web.pages import PAGE_HEADERS, PAGES, STATIC

SPEC = Operation(
    "openapi", "GET", "/api/openapi.json", "This document", "operating",
    (Reply(200, "the OpenAPI 3.1 document", s.Spec),),
)  # fmt: skip
DOCS = Operation(
    "apiDocs", "GET", "/api/docs", "This document as a page", "operating",
    (Reply(200, "an HTML page", None, media="text/html"),),
)  # fmt: skip
OPERATIONS = (SPEC, DOCS)
UNDOCUMENTED: dict[str, str] = {
    **{page: "an HTML page" for page in PAGES},
    "/static/": "static files",
    "/ws/{room}": "the WebSocket protocol of docs/protocol.md",
    **{prefix: "media (docs/streaming.md)" for prefix in playback.UNDOCUMENTED},
}
DESCRIPTION = (
    "The HTTP API of a livecart node. Errors of the JSON API are "
    '`{"error": {"code", "message"}}` with the codes of docs/protocol.md and '
    "docs/checkout.md; 503 with `Retry-After` while Redis is unreachable. "
    "The real-time protocol (WebSocket) is in docs/protocol.md."
)


def _version() -> str:
    try:
        return metadata.version("livecart")
    except metadata.PackageNotFoundError:
        return "0"


def setup_openapi(app: web.Application, operations: Iterable[Operation]) -> None:
    """Serve the document of ``operations`` (and of the two routes added here)."""
    ops = [*operations, *OPERATIONS]
    spec = msgspec.json.encode(
        document(ops, title="livecart HTTP API", version=_version(), description=DESCRIPTION)
    )

    async def openapi_json(request: web.Request) -> web.Response:
        return web.Response(
            body=spec, content_type="application/json", headers={"Cache-Control": "no-cache"}
        )

    async def docs(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "api.html", headers=PAGE_HEADERS)

    app.router.add_route(SPEC.method, SPEC.path, openapi_json)
    app.router.add_route(DOCS.method, DOCS.path, docs)
