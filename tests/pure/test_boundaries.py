"""The package boundaries docs/architecture.md draws, checked on the source.

- Pure cores import no I/O library, even indirectly: each is imported in a fresh
  interpreter and must leave asyncio, aiohttp, redis, aiortc and av unloaded.
- Imports go one way: chat, checkout and streamer never import web or loadtest; chat and
  streamer import no other part; checkout reaches chat only through its hub adapter; web
  and loadtest never import each other; the client (``livecart.client``) reaches only
  chat's pure codec and events, and no part imports it; the shared root modules import
  no part (``livecart.cli`` alone composes the command line).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = ("asyncio", "aiohttp", "redis", "aiortc", "av", "websockets")
PURE = {
    "chat": (
        "actor", "buyer_tokens", "chat_rules", "checkout_port", "codec", "commands",
        "decisions", "errors", "events", "figures", "identity", "replay", "room_state",
        "staleness", "store",
    ),
    "checkout": (
        "auction_rules", "audit", "bounds", "counters", "errors", "giveaway_rules",
        "lifecycle", "orders", "payments", "show_end", "validation", "webhook_signature",
    ),
    "streamer": (
        "errors", "fanout", "fmp4", "h264", "hls", "opus", "packager", "registry",
        "relay", "sdp_check", "segmenter", "timeline",
    ),
    "web": ("log_format", "redaction"),
    "loadtest": ("auction_checks", "auction_html", "auction_plan"),
    "client": ("auctions", "commands", "errors", "events", "protocol", "state"),
    "": (
        "addresses", "auction_versions", "delivery_stages", "display_names", "histogram",
        "keyspace", "limits", "origins", "redis_replies", "text", "transport", "wsframe",
        "ws_mask", "ws_reader",
    ),
}  # fmt: skip
PARTS = ("chat", "checkout", "streamer", "web", "loadtest", "client")
# part -> the parts it may import (besides itself and the shared root modules)
ALLOWED = {
    "chat": set(),
    "checkout": {"chat"},  # only in hub_adapter.py, checked below
    "streamer": set(),
    "web": {"chat", "checkout", "streamer"},
    "loadtest": {"checkout", "streamer"},
    "client": {"chat"},  # the wire codec and the event classes, both pure
    "": set(),
}
COMPOSERS = {"livecart/cli.py", "livecart/__main__.py"}


def module_name(part: str, name: str) -> str:
    return f"livecart.{part}.{name}" if part else f"livecart.{name}"


def loaded_io(module: str) -> str:
    """The I/O libraries importing ``module`` loads, in a fresh interpreter."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {module}; "
            f"print(' '.join(sorted(set({IO_LIBRARIES!r}) & set(sys.modules))))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    "module", [module_name(part, name) for part, names in PURE.items() for name in names]
)
def test_a_pure_core_loads_no_io_library(module: str) -> None:
    assert loaded_io(module) == ""


def test_the_purity_check_can_fail() -> None:
    assert "redis" in loaded_io("livecart.chat.store_redis")


def imported_parts(path: Path) -> set[str]:
    """The parts (``chat``, ``web``, ...) that ``path`` imports from."""
    parts: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "livecart" and len(pieces) > 1 and pieces[1] in PARTS:
                parts.add(pieces[1])
            elif pieces[0] in PARTS:
                parts.add("top-level " + pieces[0])  # would not exist in the wheel
    return parts


def sources(part: str) -> list[Path]:
    folder = ROOT / (part or "livecart")
    if part and not folder.is_dir():
        folder = ROOT / "livecart" / part  # a subpackage kept in livecart/ (client)
    found = folder.rglob("*.py") if part else folder.glob("*.py")
    return sorted(p for p in found if "static" not in p.parts)


@pytest.mark.parametrize("part", list(ALLOWED))
def test_imports_go_one_way(part: str) -> None:
    wrong: dict[str, set[str]] = {}
    for path in sources(part):
        rel = path.relative_to(ROOT).as_posix()
        if rel in COMPOSERS:
            continue
        allowed = ALLOWED[part] | {part}
        if part == "checkout" and rel != "checkout/hub_adapter.py":
            allowed = {part}
        extra = imported_parts(path) - allowed
        if extra:
            wrong[rel] = extra
    assert wrong == {}


def test_the_direction_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from livecart.web.app import create_app\nimport chat.hub\n")
    assert imported_parts(bad) == {"web", "top-level chat"}
