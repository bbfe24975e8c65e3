"""Helpers for the language and accessibility page tests: the catalogue's strings as the
pages say them, a room with a lineup and an open sale made through the host API, and
axe-core (from the installed axe-playwright-python package, nothing fetched) on a page."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp

from tests.hubclient import Node
from tests.pages_fixtures.harness import create_room

I18N = Path(__file__).resolve().parents[2] / "web" / "static" / "i18n"
# The language each browser locale gets (i18n.js matchLang).
LANG = {"en-US": "en", "zh-CN": "zh-CN"}


@cache
def catalogue(lang: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def T(locale: str, key: str, **params: Any) -> str:
    """The message ``key`` as the page in ``locale`` shows it, for small whole numbers
    (the plural form: English "one" for 1, Chinese has one form)."""
    lang = LANG[locale]
    value = catalogue(lang).get(key, catalogue("en")[key])
    if isinstance(value, dict):
        one = lang == "en" and params.get("n") == 1 and "one" in value
        value = value["one"] if one else value["other"]
    return re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), m.group(0))), value)


async def shop_room(
    http: aiohttp.ClientSession, node: Node, room: str, currency: str, *, lang: str = ""
) -> tuple[str, dict[str, str]]:
    """A room with two products in ``currency`` (scarf 129.00 pinned, with a sale at
    99.00; mug 24.50) and, when given, a default language. Returns the host token and
    the product ids by name."""
    token = await create_room(http, node, room, "Friday night deals", "Mia")
    auth = {"Authorization": f"Bearer {token}"}
    api = f"{node.url}/api/rooms/{room}"
    ids: dict[str, str] = {}
    for name, price, image in (
        ("Silk scarf", 12900, "/static/img/sample-scarf.svg"),
        ("Ceramic mug", 2450, "/static/img/sample-mug.svg"),
    ):
        body = {"name": name, "price": price, "currency": currency, "stock": 20, "image_url": image}
        async with http.post(f"{api}/products", headers=auth, json=body) as resp:
            assert resp.status == 201, await resp.text()
            ids[name] = (await resp.json())["data"]["product"]["id"]
    async with http.post(f"{api}/pin", headers=auth, json={"product_id": ids["Silk scarf"]}) as r:
        assert r.status == 200
    commands: list[dict[str, Any]] = [
        {"cmd": "open_sale", "product_id": ids["Silk scarf"], "price": 9900,
         "currency": currency, "units": 10, "limit": 2},
    ]  # fmt: skip
    if lang:
        commands.append({"cmd": "set_lang", "lang": lang})
    for command in commands:
        async with http.post(f"{api}/commands", headers=auth, json=command) as resp:
            assert resp.status == 200, await resp.text()
    return token, ids


async def axe(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations on ``page`` of the given impacts, one line each
    ("rule (impact): target, ...")."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    lines = []
    for v in results.response["violations"]:
        if v["impact"] in impacts:
            targets = ", ".join(" ".join(n["target"]) for n in v["nodes"][:6])
            lines.append(f"{v['id']} ({v['impact']}): {targets} — {v['help']}")
    return lines
