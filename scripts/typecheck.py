"""``mypy --strict`` over the package as it is installed: ``livecart.chat`` and the others.

The parts live in folders at the repository root (``chat/``, ``web/``, ...) and are
installed as ``livecart.*`` by pyproject.toml's package map. An editable install finds
them through setuptools' import hook, which mypy does not run; so this builds the
installed layout as a view of links under ``build/typecheck`` (ignored by git, never on
``sys.path``), runs mypy there with the project's own settings, and names every file in
what it prints by its path in the repository. The developer benchmarks (``bench/``, not
installed) are checked beside it under their own name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIEW = ROOT / "build" / "typecheck"


def package_map() -> dict[str, str]:
    """pyproject.toml's ``package-dir``: installed package -> folder in the repository."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        config = tomllib.load(f)
    mapped: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return mapped


def build_view() -> dict[str, str]:
    """Lay ``build/typecheck/livecart`` out as the wheel does; the view path -> repo path."""
    shutil.rmtree(VIEW / "livecart", ignore_errors=True)
    renames: dict[str, str] = {}
    for package, folder in sorted(package_map().items()):
        target = VIEW.joinpath(*package.split("."))
        if any(parent.is_symlink() for parent in target.parents):
            raise SystemExit(f"{package}: nested in a mapped folder; map it at the top level")
        target.parent.mkdir(parents=True, exist_ok=True)
        if package == "livecart":
            target.mkdir(exist_ok=True)
            for entry in (ROOT / folder).iterdir():
                if entry.name != "__pycache__" and not (target / entry.name).exists():
                    (target / entry.name).symlink_to(entry)
        elif not target.exists():
            target.symlink_to(ROOT / folder)
        renames[package.replace(".", "/") + "/"] = folder.rstrip("/") + "/"
    # the developer benchmarks: not installed, run from a checkout as ``bench`` (their own
    # top-level name), importing livecart as installed
    bench = VIEW / "bench"
    if not bench.exists():
        bench.symlink_to(ROOT / "bench")
    return renames


def main() -> int:
    renames = build_view()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            *("-p", "livecart", "-p", "bench"),
        ],
        cwd=VIEW,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache")},
    )
    longest_first = sorted(renames.items(), key=lambda item: -len(item[0]))
    for line in (run.stdout + run.stderr).splitlines():
        for view_path, repo_path in longest_first:
            if line.startswith(view_path):
                line = repo_path + line[len(view_path) :]
                break
        print(line)
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
