"""The pages people use: show list, host studio, viewer room (``web/static``)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"


def setup_pages(app: web.Application) -> None:
    if STATIC.is_dir():
        app.router.add_static("/static/", STATIC)
