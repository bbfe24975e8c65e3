"""The wheel installs one top-level name, ``livecart``, and works without the source tree.

Builds the wheel from this checkout, installs it into an empty target folder and, from a
folder outside the checkout, imports every module in it and runs the command line: a
module still importing a top-level ``chat``/``web``/... or a file missing from the wheel
(Lua scripts, pages) fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

IMPORT_ALL = """
import importlib, pkgutil, livecart
names = [m.name for m in pkgutil.walk_packages(livecart.__path__, "livecart.")
         if not m.name.endswith(".__main__")]
for name in names:
    importlib.import_module(name)
from importlib import resources
lua = sorted(p.name for p in (resources.files("livecart.checkout") / "lua").iterdir())
assert "reserve.lua" in lua, lua
from livecart.checkout.scripts import source
assert "redis.call" in source("reserve")
lua = sorted(p.name for p in (resources.files("livecart.chat") / "lua").iterdir())
assert "emit.lua" in lua, lua
from livecart.chat.store_redis import SCRIPTS, source as chat_source
for name in SCRIPTS:
    assert "redis.call" in chat_source(name), name
from livecart.web.pages import client_dir
assert (client_dir() / "client.js").is_file(), client_dir()
print(len(names), livecart.__file__)
"""


def source_copy(dest: Path) -> Path:
    """The tracked tree as a fresh copy, so no stale ``build/`` of the checkout leaks in."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        src, dst = ROOT / name.decode(), dest / name.decode()
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_file():
            shutil.copy2(src, dst)
    return dest


def test_wheel_installs_only_livecart(tmp_path: Path) -> None:
    source = source_copy(tmp_path / "source")
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-v",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    # the package map and the data folders are declared so that setuptools has no doubt
    assert "absent from the `packages` configuration" not in built.stdout + built.stderr
    (wheel,) = wheels.glob("livecart-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"livecart", next(t for t in top if t.endswith(".dist-info"))}
    for expected in (
        "livecart/chat/hub.py",
        "livecart/client/connection.py",
        "livecart/checkout/lua/reserve.lua",
        "livecart/chat/lua/emit.lua",
        "livecart/chat/lua/prelude.lua",
        "livecart/web/static/live.html",
        "livecart/streamer/static/player.js",
        "livecart/jsclient/index.js",
        "livecart/jsclient/client.js",
        "livecart/loadtest/static/report.html",
        "livecart/loadtest/runner.py",
    ):
        assert expected in names, expected
    # the developer benchmarks (bench/) run from a checkout; the wheel has none of them
    assert not [n for n in names if n.startswith(("bench/", "livecart/bench"))]
    assert not [n for n in names if "/peers/" in n or n.endswith("bench_video.py")]
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "livecart = livecart.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def python(*argv: str) -> str:
        """Run the interpreter on the installed wheel alone, outside the checkout."""
        done = subprocess.run(
            [sys.executable, *argv],
            cwd=elsewhere,
            env={**os.environ, "PYTHONPATH": str(target)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    count, where = python("-c", IMPORT_ALL).split()
    assert int(count) > 80
    assert where.startswith(str(target))
    usage = python("-m", "livecart", "--help")
    for verb in ("serve", "loadtest"):
        assert verb in usage
    assert "bench" not in usage  # python -m bench, from a checkout
