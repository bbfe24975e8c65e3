"""The OpenAPI 3.1 document, built from the declared operations.

``document(operations)`` is a plain dict (JSON-serialisable) in which every operation of
``livecart.http_contract`` appears with its path parameters, request body, replies and
security. Schemas come from ``msgspec.json.schema_components``: JSON Schema 2020-12,
the dialect OpenAPI 3.1 uses, with every Struct under ``components/schemas``. Two
operations on the same path share its path item. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from livecart.http_contract import JSON, Operation, Reply

REF = "#/components/schemas/{name}"
SECURITY_SCHEMES = {
    "admin": {
        "type": "http",
        "scheme": "bearer",
        "description": "The admin token (`--admin-token`, or the one the first node "
        "created in Redis): creates rooms and may act as any room's host.",
    },
    "host": {
        "type": "http",
        "scheme": "bearer",
        "description": "A room's host token, returned once by `POST /api/rooms`.",
    },
}
HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}},
    "Location": {"description": "the new resource", "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": "the Bearer challenge", "schema": {"type": "string"}},
    "Accept-Post": {"description": "media types POST accepts", "schema": {"type": "string"}},
    "Allow": {"description": "the methods the resource allows", "schema": {"type": "string"}},
    "Content-Disposition": {"description": "the file name", "schema": {"type": "string"}},
}


def document(
    operations: Iterable[Operation], *, title: str, version: str, description: str = ""
) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``operations``. Raises ``ValueError`` for two
    operations with the same method and path or the same ``operation_id``."""
    ops = list(operations)
    _check_unique(ops)
    types: list[Any] = []
    for op in ops:
        if op.body is not None:
            types.append(op.body)
        types.extend(reply.schema for reply in op.replies if reply.schema is not None)
    distinct = _distinct(types)
    refs, components = msgspec.json.schema_components(distinct, ref_template=REF)
    schema_of = dict(zip(distinct, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        item = paths.setdefault(op.path, {})
        item[op.method.lower()] = _operation(op, schema_of)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
    }


def _check_unique(ops: list[Operation]) -> None:
    seen: set[tuple[str, str]] = set()
    ids: set[str] = set()
    for op in ops:
        key = (op.method.upper(), op.path)
        if key in seen or op.operation_id in ids:
            raise ValueError(f"declared twice: {op.method} {op.path} ({op.operation_id})")
        seen.add(key)
        ids.add(op.operation_id)


def _distinct(types: list[Any]) -> list[Any]:
    out: list[Any] = []
    for t in types:
        if t not in out:
            out.append(t)
    return out


def _operation(op: Operation, schema_of: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": {str(r.status): _reply(r, schema_of) for r in op.replies},
    }
    if op.description:
        out["description"] = op.description
    params = [_path_param(name, op) for name in _placeholders(op.path)]
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {JSON: {"schema": _lookup(schema_of, op.body)}},
        }
    elif op.body_text:
        out["requestBody"] = {
            "required": op.body_required,
            "description": op.body_text,
            "content": {op.body_media: {"schema": {"type": "string"}}},
        }
    out["security"] = [{name: []} for name in op.security] if op.security else []
    return out


def _placeholders(path: str) -> list[str]:
    names = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1])
    return names


def _path_param(name: str, op: Operation) -> dict[str, Any]:
    declared = op.params.get(name)
    if declared is None:
        raise ValueError(f"{op.operation_id}: path parameter {name!r} is not declared")
    schema: dict[str, Any] = {"type": "string"}
    if declared.pattern:
        schema["pattern"] = declared.pattern
    if declared.enum:
        schema["enum"] = list(declared.enum)
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": declared.description,
        "schema": schema,
    }


def _reply(reply: Reply, schema_of: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.schema is not None:
        out["content"] = {reply.media: {"schema": _lookup(schema_of, reply.schema)}}
    elif reply.media != JSON:
        out["content"] = {reply.media: {"schema": {"type": "string"}}}
    if reply.headers:
        out["headers"] = {name: HEADERS[name] for name in reply.headers}
    return out


def _lookup(schema_of: dict[Any, dict[str, Any]], t: Any) -> dict[str, Any]:
    return schema_of[t]
