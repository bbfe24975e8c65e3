"""Hypothesis against a live node's WebSocket: every command of chat/commands.py with
any JSON (or MessagePack) value in any of its fields, plus stray fields, from a viewer
and from the host, in both subprotocols.

Every frame must get exactly one reply, ``ok`` or an error code of docs/protocol.md /
docs/checkout.md; the socket must stay open; the server must log no traceback. The HTTP
API gets the same treatment from schemathesis (tests/node/test_openapi_schemathesis.py);
this file adds the WebSocket commands. Bounded: 4 sockets of 40 frames, ~20 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

import aiohttp
import msgpack
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from livecart.chat.commands import COMMANDS
from livecart.chat.errors import ErrorCode
from livecart.checkout.errors import CODES as CHECKOUT_CODES
from tests.hubclient import Node, connect, create_room

EXAMPLES = int(os.environ.get("LIVECART_FUZZ_EXAMPLES", "40"))  # per socket
DOCUMENTED = {code.value for code in ErrorCode} | set(CHECKOUT_CODES)
#: the fields each command reads (docs/protocol.md, docs/checkout.md)
FIELDS: dict[str, tuple[str, ...]] = {
    "chat": ("text",),
    "heart": ("n",),
    "explain": ("product_id",),
    "ping": (),
    "add_product": ("name", "price", "currency", "image_url", "stock"),
    "update_product": ("product_id", "name", "price", "currency", "image_url"),
    "reorder": ("lineup",),
    "pin": ("product_id",),
    "dismiss": ("product_id",),
    "delete": ("message_id",),
    "mute": ("vid",),
    "unmute": ("vid",),
    "ban": ("vid",),
    "unban": ("vid",),
    "slow_mode": ("seconds",),
    "banned_words": ("words",),
    "set_lang": ("lang",),
    "status": ("status",),
    "buy": ("product_id", "qty", "key"),
    "pay": ("reservation_id", "card", "key"),
    "open_sale": ("product_id", "price", "currency", "units", "limit", "opens_at", "ends_at"),
    "close_sale": ("product_id",),
    "buyer_auth": ("token",),
    "start_auction": (
        "product_id",
        "start_price",
        "duration",
        "counter_seconds",
        "sudden_death",
        "reserve",
        "increments",
        "key",
    ),
    "cancel_auction": ("auction_id",),
    "bid": ("auction_id", "max", "key", "card"),
    "start_giveaway": ("product_id", "rule", "watched_seconds", "duration"),
}
ODD_TEXT = st.sampled_from(
    ["", " ", "p1", "\u202e", "\u200b", "a\u0301" * 50, "x" * 300, "²", "9" * 400, "{r}"]
)
LONE = st.sampled_from(["\ud800", "a\udfffb", "\udbff"])


def values(msgpack_safe: bool) -> st.SearchStrategy[Any]:
    text = st.text(max_size=50) | ODD_TEXT
    if not msgpack_safe:
        text = text | LONE
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**64 - 1)
        | st.floats(allow_nan=not msgpack_safe, allow_infinity=True)
        | text
    )
    if msgpack_safe:
        leaves = leaves | st.binary(max_size=20)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=12,
    )


def commands(msgpack_safe: bool) -> st.SearchStrategy[dict[str, Any]]:
    any_value = values(msgpack_safe)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        name = draw(st.sampled_from(sorted(FIELDS)))
        frame: dict[str, Any] = {"cmd": name}
        for field in FIELDS[name]:
            if draw(st.booleans()):
                frame[field] = draw(any_value)
        extra = draw(st.dictionaries(st.text(max_size=8), any_value, max_size=2))
        frame.update({k: v for k, v in extra.items() if k not in ("id", "cmd")})
        return frame

    return build()


def reply_to(ws: ClientConnection, cid: int, fmt: str) -> dict[str, Any]:
    """Read until the reply to ``cid`` (or the ``bad_frame`` reply, whose ``id`` is null:
    a frame that does not decode has no id); a closed socket raises."""
    deadline = time.monotonic() + 10
    while True:
        raw = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        frame = json.loads(raw) if fmt.endswith("json") else msgpack.unpackb(raw)
        if frame.get("t") != "reply":
            continue
        if frame.get("id") == cid or (frame.get("id") is None and not frame["ok"]):
            return dict(frame)


def fuzz_socket(url: str, fmt: str) -> list[str]:
    """Send generated commands over one socket; return what broke the rules."""
    problems: list[str] = []
    counter = iter(range(1, 10**9))
    with ws_connect(url, subprotocols=[fmt], max_size=2**22) as ws:  # type: ignore[list-item]
        ws.recv(timeout=10)  # snapshot

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(frame=commands(msgpack_safe=fmt.endswith("msgpack")))
        def check(frame: dict[str, Any]) -> None:
            cid = next(counter)
            frame = {**frame, "id": cid}
            if fmt.endswith("json"):
                ws.send(json.dumps(frame))
            else:
                ws.send(msgpack.packb(frame, use_bin_type=True))
            try:
                reply = reply_to(ws, cid, fmt)
            except TimeoutError:
                problems.append(f"no reply to {frame!r:.300}")
                raise
            if not reply["ok"] and reply["error"]["code"] not in DOCUMENTED:
                problems.append(f"{frame!r:.300} -> {reply!r:.300}")
            time.sleep(0.04)  # under the 20 commands a second a connection may send

        check()
        ws.send(json.dumps({"id": 0, "cmd": "ping"}) if fmt.endswith("json") else
                msgpack.packb({"id": 0, "cmd": "ping"}))  # fmt: skip
        assert reply_to(ws, 0, fmt)["ok"]  # still open and answering
    return problems


# The node runs in this process and uses ``random`` (retry jitter) while Hypothesis
# draws in the fuzzing thread; Hypothesis takes that for a strategy using ``random``.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
async def test_any_value_in_any_command_field_gets_a_documented_reply(
    http: aiohttp.ClientSession, node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    token = await create_room(http, node)
    host = await connect(http, node, name="Mia", token=token)
    added = await host.command("add_product", name="Scarf", price=100, currency="CNY", stock=5)
    assert added["ok"]
    assert set(FIELDS) == set(COMMANDS)  # every command is fuzzed
    base = node.url.replace("http", "ws", 1) + "/ws/r1"
    problems: list[str] = []
    for url, fmt in (
        (f"{base}?name=fuzz", "livecart.v1.json"),
        (f"{base}?name=fuzz", "livecart.v1.msgpack"),
        (f"{base}?name=Mia&token={token}", "livecart.v1.json"),
        (f"{base}?name=Mia&token={token}", "livecart.v1.msgpack"),
    ):
        problems += await asyncio.to_thread(fuzz_socket, url, fmt)
    assert problems == []
    logged = [
        f"{r.name}: {r.getMessage()[:300]}"
        for r in caplog.records
        if r.exc_info or (r.levelno >= logging.ERROR and r.name.startswith(("aiohttp", "livecart")))
    ]
    assert logged == []
    await host.ws.close()
