"""The README's "Your first show in five minutes", run as written.

The ``sh`` blocks of that section are taken from README.md, with only the server's
address and the admin token put in, and run by bash (curl, python3) against a fresh
``livecart serve`` subprocess on a free port, with its own data directory and private
Redis. Every command must succeed (``set -euo pipefail``, ``curl -f``); afterwards the
room, its products, the sale and the order must be there, read back through the API.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livecart.redis_process import free_port

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Your first show in five minutes\n"
README_URL = "http://127.0.0.1:8080"
README_ADMIN = "ADMIN=adm_..."
ROOM = "spring-sale"


def first_show_blocks() -> list[str]:
    """The ``sh`` blocks of the section, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```$", section, re.M | re.S)


def script(base: str, admin: str) -> str:
    blocks = first_show_blocks()
    text = "\n".join(blocks)
    assert text.count(README_ADMIN) == 1, "the section sets the admin token once"
    assert README_URL in text
    text = text.replace(README_URL, base).replace(README_ADMIN, f"ADMIN={admin}")
    return "set -euo pipefail\n" + text


def get(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A fresh ``livecart serve`` (private Redis under a new data directory)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin = "adm_" + secrets.token_urlsafe(16)
    argv = [sys.executable, "-m", "livecart", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--data-dir", str(tmp_path / "data"), "--admin-token", admin]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if get(f"{base}/healthz")["ok"]:
                    break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, "serve did not answer /healthz in 15 s"
            time.sleep(0.1)
        yield base, admin
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_the_section_has_the_steps() -> None:
    text = "\n".join(first_show_blocks())
    for route in ('/api/rooms"', '/products"', '/lineup"', '/pin"', '/commands"', '/end"'):
        assert route in text, route
    for command in ('\\"cmd\\": \\"open_sale\\"', '\\"cmd\\": \\"buy\\"', '\\"cmd\\": \\"pay\\"'):
        assert command in text, command


def test_the_first_show_runs_as_written(server: tuple[str, str], tmp_path: Path) -> None:
    base, admin = server
    bash = shutil.which("bash")
    assert bash and shutil.which("curl"), "the README's commands need bash and curl"
    done = subprocess.run(
        [bash, "-c", script(base, admin)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"

    room = get(f"{base}/api/rooms/{ROOM}")
    assert room["room"]["title"] == "Spring sale" and room["room"]["host"] == "Mia"
    names = {p["id"]: p["name"] for p in room["products"].values()}
    assert sorted(names.values()) == ["Linen tote bag", "Silk scarf"]
    scarf = next(pid for pid, name in names.items() if name == "Silk scarf")
    assert [names[pid] for pid in room["lineup"]] == ["Linen tote bag", "Silk scarf"]
    assert room["pinned"] == scarf
    sale = room["sales"][scarf]
    assert (sale["price"], sale["currency"], sale["units"], sale["limit"]) == (9900, "CNY", 20, 2)
    assert room["room"]["status"] == "ended"

    figures = get(f"{base}/api/rooms/{ROOM}/figures", admin)
    assert figures["orders"] == 1 and figures["revenue"] == {"CNY": 9900}
    assert figures["stock"][scarf] == {"initial": 40, "sold": 1, "reserved": 0, "available": 39}
    assert get(f"{base}/api/rooms/{ROOM}/audit", admin)["ok"] is True
    csv = (tmp_path / "spring-sale-orders.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv) == 2 and f",{ROOM},{scarf},1,9900,CNY," in csv[1]
