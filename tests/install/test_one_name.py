"""Every module of livecart has one importable name, ``livecart.…``, in a checkout too.

The parts are folders at the repository root (``chat/``, ``web/``, ...) installed as
``livecart.chat``, ``livecart.web``, ... (pyproject.toml's package map). Run from the
root, Python would also find ``chat`` as a top-level package, and a second name means a
second ``CommandError`` class that ``except`` clauses miss: each folder refuses it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "setuptools"
]["package-dir"]
PARTS = sorted(  # the Python parts (a data folder, like the JavaScript client's, has no __init__)
    folder
    for package, folder in PACKAGE_DIR.items()
    if package != "livecart" and (ROOT / folder / "__init__.py").exists()
)

IMPORT_EVERY_FILE = """
import importlib, json, sys
from pathlib import Path
expected = json.loads(sys.argv[1])
root = Path(sys.argv[2])
wrong = []
for name, path in expected.items():
    module = importlib.import_module(name)
    if module.__name__ != name or Path(module.__file__).resolve() != Path(path):
        wrong.append((name, module.__name__, module.__file__))
for name, module in list(sys.modules.items()):
    file = getattr(module, "__file__", None) or ""
    inside = file.startswith(str(root) + "/") and not file.startswith(str(root / ".venv"))
    if inside and not name.startswith("livecart"):
        wrong.append((name, "a second name", file))
print(json.dumps({"imported": len(expected), "wrong": wrong}))
"""


def expected_names() -> dict[str, str]:
    """Every source file of the package -> the one name it is imported by."""
    names: dict[str, str] = {}
    for package, folder in PACKAGE_DIR.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            relative = path.relative_to(base).with_suffix("")
            if relative.parts[-1] == "__main__":
                continue
            parts = [p for p in relative.parts if p != "__init__"]
            names[".".join([package, *parts])] = str(path.resolve())
    return names


@pytest.mark.parametrize("part", PARTS)
def test_a_part_folder_is_not_importable_under_its_own_name(part: str) -> None:
    assert set(PARTS) >= {"chat", "checkout", "loadtest", "streamer", "web"}
    done = subprocess.run(
        [sys.executable, "-c", f"import {part}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert f"this folder is the package livecart.{part}; import that" in done.stderr


def test_every_module_is_imported_by_its_livecart_name_alone() -> None:
    names = expected_names()
    assert {"livecart.chat.hub", "livecart.web.app", "livecart.loadtest.runner"} <= set(names)
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_FILE, json.dumps(names), str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["imported"] == len(names) > 150
    assert report["wrong"] == []


def test_nothing_installed_imports_the_benchmarks() -> None:
    """``bench/`` runs from a checkout and is not in the wheel (docs/architecture.md):
    an installed module that imported it would fail where livecart is installed."""
    assert "bench" not in PACKAGE_DIR.values() and (ROOT / "bench" / "__main__.py").exists()
    found = []
    for name, path in expected_names().items():
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                modules = [node.module or ""]
            else:
                continue
            found += [(name, m) for m in modules if m == "bench" or m.startswith("bench.")]
    assert found == []


def test_the_source_tree_has_no_symlinks() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-s"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    links = [line.split("\t", 1)[1] for line in listed if line.startswith("120000")]
    assert links == []
