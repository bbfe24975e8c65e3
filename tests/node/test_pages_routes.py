"""The page routes: HTML shells with a strict CSP, our modules and the streamer's."""

from __future__ import annotations

import re

import aiohttp
import pytest

from livecart.web.pages import STATIC
from tests.hubclient import Node


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("/", "shows.js"),
        ("/live/demo", "live.js"),
        ("/studio/demo", "studio.js"),
        ("/replay/demo/20260101T000000Z-abcdef", "replay.js"),
    ],
)
async def test_pages_are_shells_with_csp(
    node: Node, http: aiohttp.ClientSession, path: str, module: str
) -> None:
    async with http.get(node.url + path) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "object-src 'none'" in csp
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        html = await resp.text()
    assert f'src="/static/js/{module}"' in html
    # Nothing from another server, no inline script or style.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script>" not in html and "<style" not in html and " style=" not in html


async def test_modules_are_served_and_revalidated(node: Node, http: aiohttp.ClientSession) -> None:
    for path in sorted(p.relative_to(STATIC).as_posix() for p in (STATIC / "js").glob("*.js")):
        async with http.get(f"{node.url}/static/{path}") as resp:
            assert resp.status == 200, path
            assert resp.content_type in ("application/javascript", "text/javascript")
            assert resp.headers["Cache-Control"] == "no-cache"
            body = await resp.text()
        # No remote imports and no HTML parsing of strings.
        assert not re.search(r"from\s+[\"']https?:", body), path
        assert "innerHTML" not in body and "insertAdjacentHTML" not in body, path
        assert "document.write" not in body, path
    async with http.get(f"{node.url}/static/streamer/player.js") as resp:
        assert resp.status == 200
