"""Lua scripts kept as files: how a part's ``lua/`` folder becomes the text sent to Redis.

A part (``livecart.checkout``, ``livecart.chat``) keeps its scripts in its ``lua/``
folder, one file per script, and a ``prelude.lua`` put before each of them. ``compose``
builds one script's text:

1. ``prelude.lua``, with each placeholder of ``rendered`` (``__NAME__``) replaced by its
   text: constants and tables rendered from the part's Python, so that Python and Redis
   read one definition;
2. each library of ``libraries`` as it is (helpers several scripts share);
3. each script of ``functions`` as a local function of its own name taking ``ARGV`` (a
   script that calls another script's body);
4. the script's own file.

Each piece is preceded by a ``-- <name>.lua`` comment line, so a script can be told from
its text and an error's line found. The files are package data (pyproject.toml lists each
``lua`` folder as a package), read with ``importlib.resources``, so they load from a
wheel as from the tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources


def read(package: str, name: str) -> str:
    """The text of ``<package>/lua/<name>.lua``."""
    path = resources.files(package) / "lua" / f"{name}.lua"
    return path.read_text(encoding="utf-8")


def compose(
    package: str,
    name: str,
    *,
    rendered: Mapping[str, str] | None = None,
    libraries: Iterable[str] = (),
    functions: Iterable[str] = (),
) -> str:
    """The full text of script ``name`` of ``package`` (see the module docstring)."""
    prelude = read(package, "prelude")
    for placeholder, text in (rendered or {}).items():
        if placeholder not in prelude:
            raise ValueError(f"{package}'s prelude.lua has no {placeholder}")
        prelude = prelude.replace(placeholder, text)
    for lib in libraries:
        prelude += f"\n-- {lib}.lua\n" + read(package, lib)
    for inner in functions:
        text = read(package, inner)
        prelude += f"\n-- {inner}.lua\nlocal function {inner}(ARGV)\n{text}\nend\n"
    return f"{prelude}\n-- {name}.lua\n{read(package, name)}"
