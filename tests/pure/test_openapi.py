"""The OpenAPI document: valid 3.1, complete, and built from what the handlers check."""

from __future__ import annotations

import re
import typing
from typing import Any

import msgspec
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from livecart.chat import commands
from livecart.http_contract import BodyRefused, decode_json
from livecart.openapi import document
from livecart.web import api, schemas
from livecart.web.app import create_app
from livecart.web.auth import is_admin
from livecart.web.config import Config
from livecart.web.openapi_routes import UNDOCUMENTED


def _app() -> web.Application:
    return create_app(Config(redis_url="redis://127.0.0.1:1", admin_token="adm_x", demo=False))


def _spec(app: web.Application) -> dict[str, Any]:
    for route in app.router.routes():
        if route.resource is not None and route.resource.canonical == "/api/openapi.json":
            handler: Any = route.handler
            body = handler.__closure__[0].cell_contents  # the encoded document
            return dict(msgspec.json.decode(body))
    raise AssertionError("no /api/openapi.json route")


@pytest.fixture(scope="module")
def app_and_spec() -> tuple[web.Application, dict[str, Any]]:
    app = _app()
    return app, _spec(app)


def test_the_document_is_valid_openapi_3_1(
    app_and_spec: tuple[web.Application, dict[str, Any]],
) -> None:
    spec = app_and_spec[1]
    assert spec["openapi"].startswith("3.1")
    validate(spec, cls=OpenAPIV31SpecValidator)


def _canonical(path: str) -> str:
    """aiohttp's ``{name:regex}`` placeholders as OpenAPI's ``{name}``."""
    return re.sub(r"\{(\w+):[^}]*\}+", r"{\1}", path)


def test_every_route_is_in_the_document_or_listed_as_not_api(
    app_and_spec: tuple[web.Application, dict[str, Any]],
) -> None:
    app, spec = app_and_spec
    missing = []
    registered = set()
    for route in app.router.routes():
        assert route.resource is not None
        path = _canonical(route.resource.canonical)
        method = route.method.lower()
        if method == "head":  # aiohttp adds HEAD beside every GET
            continue
        registered.add((path, method))
        if any(path == p or path.startswith(p) for p in UNDOCUMENTED if p.endswith("/")):
            continue
        if path in UNDOCUMENTED:
            continue
        if method not in spec["paths"].get(path, {}):
            missing.append(f"{method.upper()} {path}")
    assert not missing, f"routes missing from the OpenAPI document: {missing}"
    declared = {(p, m) for p, item in spec["paths"].items() for m in item}
    assert declared <= registered, f"declared but not routed: {declared - registered}"


def test_host_routes_ask_for_a_bearer_token(
    app_and_spec: tuple[web.Application, dict[str, Any]],
) -> None:
    spec = app_and_spec[1]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            # A room's replays are public (tag "replay"); the host hides or deletes them.
            if path.startswith("/api/rooms/{room}/") and op["tags"] != ["replay"]:
                assert {"host": []} in op["security"], (method, path)
                assert "401" in op["responses"], (method, path)
    assert spec["paths"]["/api/rooms"]["post"]["security"] == [{"admin": []}]


def test_the_request_schema_is_the_struct_the_handler_decodes(
    app_and_spec: tuple[web.Application, dict[str, Any]],
) -> None:
    spec = app_and_spec[1]
    body = spec["paths"]["/api/rooms/{room}/products"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewProduct"
    }
    _, components = msgspec.json.schema_components([schemas.NewProduct])
    assert spec["components"]["schemas"]["NewProduct"] == components["NewProduct"]
    assert api.ADD_PRODUCT.body is schemas.NewProduct


def test_the_command_names_are_the_parsers() -> None:
    assert set(typing.get_args(schemas.CommandName)) == set(commands.COMMANDS)
    for name in commands.COMMANDS:
        try:
            commands.parse_command({"cmd": name})
        except Exception as exc:  # missing arguments, never an unknown command
            assert getattr(exc, "code", "") != "bad_command", name


def test_an_operation_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        document([api.PIN, api.PIN], title="t", version="0")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "bad_frame"),
        (b"not json", "bad_frame"),
        (b"[1, 2]", "bad_frame"),
        (b'"text"', "bad_frame"),
        (b"\xff\xfe", "bad_frame"),
        (b'{"name": "\\ud800", "price": 1, "currency": "CNY", "stock": 1}', "bad_frame"),
        (b"[" * 100_000 + b"]" * 100_000, "bad_frame"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "bad_frame"),
        (b'{"name": "x", "price": 1e999, "currency": "CNY", "stock": 1}', "bad_frame"),
        (b'{"name": "x", "price": 99999999999999999999999, "currency": "CNY", "stock": 1}',
         "bad_args"),
        (b'{"name": "x", "price": true, "currency": "CNY", "stock": 1}', "bad_args"),
        (b'{"name": "x", "price": 1.5, "currency": "CNY", "stock": 1}', "bad_args"),
        (b'{"name": "x", "price": 1, "currency": "cny", "stock": 1}', "bad_args"),
        (b'{"price": 1, "currency": "CNY", "stock": 1}', "bad_args"),
    ],
)  # fmt: skip
def test_malformed_bodies_get_a_documented_code(raw: bytes, code: str) -> None:
    with pytest.raises(BodyRefused) as refused:
        decode_json(api.ADD_PRODUCT, raw)
    assert refused.value.code == code


def test_a_refusal_names_the_field() -> None:
    with pytest.raises(BodyRefused) as refused:
        decode_json(api.ADD_PRODUCT, b'{"name": "x", "price": -1, "currency": "CNY", "stock": 1}')
    assert refused.value.message.startswith("price: ")
    with pytest.raises(BodyRefused) as refused:
        decode_json(api.ADD_PRODUCT, b'{"price": 1, "currency": "CNY", "stock": 1}')
    assert refused.value.message.startswith("name: ")


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_decode_or_are_refused(raw: bytes) -> None:
    for op in (api.CREATE_ROOM, api.ADD_PRODUCT, api.UPDATE_PRODUCT, api.PIN, api.RUN_COMMAND):
        try:
            decode_json(op, raw)
        except BodyRefused as exc:
            assert exc.code in ("bad_frame", "bad_args")


def test_an_optional_body_may_be_empty() -> None:
    value, obj = decode_json(api.PIN, b"{}")
    assert value == schemas.PinBody(product_id=None) and obj == {}


@pytest.mark.parametrize("token", ["адмін", "adm\udcff", "\x00", "é" * 300])
def test_non_ascii_tokens_are_refused_not_errors(token: str) -> None:
    assert not is_admin(token, "adm_x")
