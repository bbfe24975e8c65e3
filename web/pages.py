"""The pages people use: show list ``/``, host studio ``/studio/{room}``, viewer room
``/live/{room}``, replay of a past show ``/replay/{room}/{show}``.

Each page is a static HTML shell from ``web/static`` that loads plain ES modules from
``/static/`` (no build step); the room id is read from the address in the browser.
Pages get a strict Content-Security-Policy: scripts, styles and connections from this
server only, images also from http(s) (product pictures), media from blob URLs (MSE).
Static files are served with ``Cache-Control: no-cache`` so a new release is picked up
on the next load (the browser revalidates with ``Last-Modified``). The JavaScript client
(clients/js, the package ``@livecart/client``) is served at ``/static/client/``: the
pages' connection (``static/js/conn.js``) is built on it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

STATIC = Path(__file__).parent / "static"
CLIENT_PACKAGE = "livecart.jsclient"


def client_dir() -> Path:
    """The JavaScript client's modules: the data package ``livecart.jsclient``, which
    pyproject.toml's package map takes from clients/js/src."""
    spec = importlib.util.find_spec(CLIENT_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))  # an installed wheel
    # an editable install: setuptools' import hook maps only folders with an __init__.py,
    # so the data folder is where the package map takes it from, in this checkout
    return Path(__file__).resolve().parents[1] / "clients" / "js" / "src"


CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' https: http: data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
PAGES = {
    "/": "index.html",
    "/studio/{room}": "studio.html",
    "/live/{room}": "live.html",
    "/replay/{room}/{show}": "replay.html",
}
# /static/streamer/ belongs to the streamer (registered before the pages).
OWN_STATIC = ("/static/js/", "/static/css/", "/static/img/", "/static/i18n/", "/static/client/")


def _page(filename: str) -> Handler:
    path = STATIC / filename

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path, headers=PAGE_HEADERS)

    return handler


async def _static_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(OWN_STATIC):
        response.headers.setdefault("Cache-Control", "no-cache")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")


def setup_pages(app: web.Application) -> None:
    for route, filename in PAGES.items():
        app.router.add_get(route, _page(filename))
    app.router.add_static("/static/client/", client_dir())
    app.router.add_static("/static/", STATIC)
    app.on_response_prepare.append(_static_headers)
