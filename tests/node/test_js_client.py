"""The JavaScript client (clients/js) against a real node: its own tests, run by node's
test runner over real WebSockets (the ``ws`` package), with this node's address.

The client's dev dependencies come from its lock (``npm ci``) when ``node_modules`` is
missing or older than ``package-lock.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import aiohttp

from livecart.chat.errors import CloseCode, ErrorCode
from livecart.checkout.errors import CODES as CHECKOUT_CODES
from tests.hubclient import ADMIN, Node

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "js"
TESTS = 13  # the test() calls in clients/js/test/*.test.js


def npm_ci() -> None:
    """``npm ci`` unless ``node_modules`` was installed from this very lock."""
    installed = CLIENT / "node_modules" / ".package-lock.json"
    lock = CLIENT / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    assert npm, "npm is missing: run scripts/ensure_debian_packages.py (it installs nodejs and npm)"
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENT, check=True, capture_output=True
    )


def test_count_matches_the_test_files() -> None:
    calls = sum(
        len(re.findall(r"^test\(", path.read_text(), re.MULTILINE))
        for path in (CLIENT / "test").glob("*.test.js")
    )
    assert calls == TESTS


async def test_the_server_serves_the_client_to_the_pages(
    http: aiohttp.ClientSession, node: Node
) -> None:
    for module in sorted((CLIENT / "src").glob("*.js")):
        async with http.get(f"{node.url}/static/client/{module.name}") as resp:
            assert resp.status == 200, module.name
            assert resp.content_type in ("application/javascript", "text/javascript")
            assert resp.headers["Cache-Control"] == "no-cache"
            assert await resp.read() == module.read_bytes()
    async with http.get(f"{node.url}/static/js/conn.js") as resp:
        assert 'from "/static/client/index.js"' in await resp.text()
    async with http.get(f"{node.url}/static/client/../../pages.py") as resp:
        assert resp.status in (403, 404)


async def test_js_client_against_a_real_node(http: aiohttp.ClientSession, node: Node) -> None:
    node_bin = shutil.which("node")
    assert node_bin, "node is missing: run scripts/ensure_debian_packages.py (it installs nodejs)"
    await asyncio.to_thread(npm_ci)
    env = {
        **os.environ,
        "LIVECART_URL": node.url,
        "LIVECART_ADMIN_TOKEN": ADMIN,
        "LIVECART_ERROR_CODES": json.dumps(sorted({*ErrorCode, *CHECKOUT_CODES})),
        "LIVECART_CLOSE_CODES": json.dumps({code.name: code.value for code in CloseCode}),
    }
    proc = await asyncio.create_subprocess_exec(
        node_bin,
        "--test",
        "--test-reporter=tap",
        "test/",
        cwd=CLIENT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(60):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    report = out.decode()
    assert proc.returncode == 0, report
    summary = dict(re.findall(r"^# (tests|pass|fail|cancelled|skipped) (\d+)$", report, re.M))
    assert summary == {
        "tests": str(TESTS),
        "pass": str(TESTS),
        "fail": "0",
        "cancelled": "0",
        "skipped": "0",
    }, report
