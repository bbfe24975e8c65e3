"""schemathesis against a live node: generated requests (valid and invalid) for every
operation of /api/openapi.json, with a real admin token and a room's host token.

Every answer must be a documented status with the documented content type, headers
and body schema, and never a 5xx other than the documented 503s. Bounded: a few dozen
examples per operation, well under a minute on two cores.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.hubclient import ADMIN, Node, create_room

schemathesis.serializer.alias("application/sdp", "text/plain")  # WHIP offers are text

EXAMPLES = int(os.environ.get("LIVECART_FUZZ_EXAMPLES", "40"))  # per operation
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def fuzz(spec: dict[str, Any], base_url: str, host_token: str, room: str) -> list[str]:
    """Run every operation; return one line per operation that failed a check."""
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        security = op.definition.raw.get("security") or []
        token = ADMIN if {"admin": []} in security and len(security) == 1 else host_token
        headers = {"Authorization": f"Bearer {token}"} if security else {}
        in_room = {"room": room} if "{room}" in op.path else {}
        cases = st.one_of(
            op.as_strategy(GenerationMode.POSITIVE, path_parameters=in_room),
            op.as_strategy(GenerationMode.POSITIVE),
            op.as_strategy(GenerationMode.NEGATIVE, path_parameters=in_room),
        )
        try:
            _run(cases, base_url, headers)
        except Exception as exc:
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:3000]}")
    return failures


def _run(cases: st.SearchStrategy[Any], base_url: str, headers: dict[str, str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)

    check()


async def test_schemathesis_finds_no_5xx_and_no_undocumented_answer(
    http: aiohttp.ClientSession, node: Node
) -> None:
    host_token = await create_room(http, node, "r1")
    auth = {"Authorization": f"Bearer {host_token}"}
    async with http.post(
        f"{node.url}/api/rooms/r1/products",
        json={"name": "Scarf", "price": 12900, "currency": "CNY", "stock": 5},
        headers=auth,
    ) as resp:
        assert resp.status == 201, await resp.text()
    async with http.get(f"{node.url}/api/openapi.json") as resp:
        assert resp.status == 200
        spec = await resp.json()
    failures = await asyncio.to_thread(fuzz, spec, node.url, host_token, "r1")
    assert not failures, "\n\n".join(failures)


async def test_the_docs_page_loads_nothing_from_other_servers(
    http: aiohttp.ClientSession, node: Node
) -> None:
    async with http.get(f"{node.url}/api/docs") as resp:
        assert resp.status == 200
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        page = await resp.text()
    assert "/static/js/api-docs.js" in page
    assert (
        "http://" not in page
        and "https://" not in page
        and "//" not in page.replace("<!--", "").replace("-->", "")
    )
    async with http.get(f"{node.url}/static/js/api-docs.js") as resp:
        script = await resp.text()
    assert "http" not in script and 'fetch("/api/openapi.json")' in script


MALFORMED: list[tuple[str, str, bytes, str]] = [
    ("POST", "/api/rooms", b"not json", "bad_frame"),
    ("POST", "/api/rooms", b'{"title": "\\ud800", "host": "x"}', "bad_frame"),
    ("POST", "/api/rooms", b"[" * 50_000 + b"]" * 50_000, "bad_frame"),
    ("POST", "/api/rooms", b'{"title": "t", "host": "h", "commission_rate": 1e999}', "bad_frame"),
    ("POST", "/api/rooms", b'{"title": "t", "host": "h", "commission_rate": 10}', "bad_args"),
    ("POST", "/api/rooms", b'{"title": 5, "host": "h"}', "bad_args"),
    ("POST", "/api/rooms/r1/products",
     b'{"name": "x", "price": 123456789012345678901234567890, "currency": "CNY", "stock": 1}',
     "bad_args"),
    ("PUT", "/api/rooms/r1/lineup", b'{"lineup": "p1"}', "bad_args"),
    ("POST", "/api/rooms/r1/commands", b'{"cmd": "open_sale", "price": [[[[]]]]}', "bad_args"),
    ("POST", "/api/rooms/r1/commands", b'{"cmd": "nope"}', "bad_args"),
]  # fmt: skip


async def test_malformed_input_gets_a_documented_4xx(
    http: aiohttp.ClientSession, node: Node
) -> None:
    host_token = await create_room(http, node, "r1")
    for method, path, body, code in MALFORMED:
        token = ADMIN if path == "/api/rooms" else host_token
        async with http.request(
            method, node.url + path, data=body, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 400, (path, body[:60], await resp.text())
            assert (await resp.json())["error"]["code"] == code, (path, body[:60])


async def test_odd_tokens_and_room_names_are_refused_not_errors(
    http: aiohttp.ClientSession, node: Node
) -> None:
    await create_room(http, node, "r1")
    for raw in ("адмін".encode(), b"\xff\xfe", "é".encode("latin-1"), b"x" * 4000):
        headers = {"Authorization": b"Bearer ".decode() + raw.decode("latin-1")}
        for method, path in (
            ("POST", "/api/rooms"),
            ("GET", "/api/rooms/r1/figures"),
            ("POST", "/api/rooms/r1/pin"),
        ):
            async with http.request(method, node.url + path, headers=headers, json={}) as resp:
                assert resp.status == 401, (method, path, raw[:20], await resp.text())
        sdp = {**headers, "Content-Type": "application/sdp"}
        async with http.post(f"{node.url}/whip/r1", data=b"v=0", headers=sdp) as resp:
            assert resp.status == 401
    for name in ("R1", "r1%0A", "%7Bx%7D", "a" * 41, "-r"):
        async with http.get(f"{node.url}/api/rooms/{name}/figures") as resp:
            assert resp.status == 404, (name, await resp.text())
            assert (await resp.json())["error"]["code"] == "not_found"
