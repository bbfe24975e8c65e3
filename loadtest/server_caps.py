"""The server's per-address caps as a load test meets them, and how to lift them.

Every simulated viewer of ``livecart loadtest`` connects from 127.0.0.1, so to the
server the whole crowd is one client address. ``livecart serve`` caps what one address
may do (web/config.py, "Connection hygiene"; docs/security.md): by default 100 open
sockets a process, 2 chat messages a second, 3 unpaid holds a sale. A server run with
its defaults therefore refuses most of a crowd, and the load test measures the caps,
not the server.

:data:`CAPS` is one row per cap: the error counter (``loadtest.summary``'s
``errors.by_code`` or the buy outcomes) by which the load test sees the server refuse
something because of it, what that means in words, and the ``livecart serve`` flag and
environment variable that lift it. :func:`caps_met` reads a run's summary (plain data,
no I/O) and names each cap the run met; :data:`SERVE_FOR_LOAD` is the server's command
line for a load test. A run that met any of them fails (``loadtest.verdict``): it
measured the caps, not the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Cap:
    """A server limit a load test can run into: how the run sees it (``counter``), what the
    server did in words, and the ``livecart serve`` flag or environment variable that
    lifts it."""

    name: str  # short, for the report's JSON
    counter: str  # the error counter (or buy outcome) by which a run sees the cap
    what: str  # what the server did, in words ({n}: how many times)
    flag: str  # the ``livecart serve`` flag that lifts it
    env: str  # the environment variable that does the same


CAPS: tuple[Cap, ...] = (
    Cap(
        "sockets",
        "connect:http_429",
        "{n} WebSocket handshake(s) refused with HTTP 429 by the server's per-address "
        "socket cap (default 100 sockets per address per process)",
        "--max-sockets-per-address 0",
        "LIVECART_MAX_SOCKETS_PER_ADDRESS=0",
    ),
    Cap(
        "video_sockets",
        "video:http_429",
        "{n} video socket handshake(s) refused with HTTP 429 by the same per-address socket cap",
        "--max-sockets-per-address 0",
        "LIVECART_MAX_SOCKETS_PER_ADDRESS=0",
    ),
    Cap(
        "chat_rate",
        "chat:rate_limited",
        "{n} chat message(s) refused as rate_limited by the server's per-address chat "
        "rate (default 2 messages a second per address; the tester keeps every viewer "
        "under the per-viewer limit)",
        "--address-chat-rate 0",
        "LIVECART_ADDRESS_CHAT_RATE=0",
    ),
    Cap(
        "holds",
        "too_many_holds",
        "{n} buy(s) refused as too_many_holds by the server's per-address holds cap "
        "(default 3 unpaid holds per address per sale)",
        "--holds-per-address 0",
        "LIVECART_HOLDS_PER_ADDRESS=0",
    ),
)

SERVE_FOR_LOAD = (
    "livecart serve --max-sockets-per-address 0 --address-chat-rate 0 --holds-per-address 0"
)
"""The server for a load test from this machine: every per-address cap lifted (the
environment variables of :data:`CAPS` do the same). Never run a public server so."""


def _refusals(summary: Mapping[str, Any]) -> dict[str, int]:
    """Every refusal counter of a summary: error replies and failed connects by code,
    and the buys' outcomes."""
    seen: dict[str, int] = dict((summary.get("errors") or {}).get("by_code") or {})
    for code, n in ((summary.get("buys") or {}).get("outcomes") or {}).items():
        seen[code] = seen.get(code, 0) + int(n)
    return seen


def caps_met(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The caps the run met, each ``{"cap", "count", "cause", "flag", "env"}``, in the
    order of :data:`CAPS`; empty when the server refused nothing for a per-address cap."""
    seen = _refusals(summary)
    return [
        {
            "cap": cap.name,
            "count": seen[cap.counter],
            "cause": cap.what.format(n=f"{seen[cap.counter]:,}"),
            "flag": cap.flag,
            "env": cap.env,
        }
        for cap in CAPS
        if seen.get(cap.counter)
    ]


def advice(met: list[dict[str, Any]]) -> str:
    """What to do about the caps ``met`` (one line), or "" for none."""
    if not met:
        return ""
    flags = " ".join(dict.fromkeys(m["flag"] for m in met))
    env = " ".join(dict.fromkeys(m["env"] for m in met))
    return (
        f"the load came from one address (127.0.0.1) and met the server's per-address caps: "
        f"for a load test run the server with {flags} (or {env}), e.g. {SERVE_FOR_LOAD}"
    )


def first_sight(counter: str) -> str | None:
    """The line to print the moment a run first sees ``counter`` (None if no cap's)."""
    for cap in CAPS:
        if cap.counter == counter:
            what = cap.what.format(n="a").replace("handshake(s)", "handshake")
            what = what.replace("message(s)", "message").replace("buy(s)", "buy")
            return (
                f"!! the server refuses this load: {what}. This run will fail; "
                f"restart the server with {cap.flag} ({cap.env}), e.g. {SERVE_FOR_LOAD}"
            )
    return None
