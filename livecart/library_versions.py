"""Whether an installed library's release lies in a supported range (pure).

The fenced modules that reach into a library's internals (``redis_internals``,
``aiohttp_internals``) state the releases they were written for as a range in
pyproject.toml's own syntax, ``">=3.14.5,<3.15"``, and refuse any other at start.
"""

from __future__ import annotations

import re

_BOUND = re.compile(r"\s*(>=|<)\s*(\d+(?:\.\d+)*)\s*")


def release(text: str) -> tuple[int, ...]:
    """The numeric release of a version string: ``"3.14.5"`` -> ``(3, 14, 5)``; a
    suffix such as ``rc1`` or ``.dev0`` is left out."""
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(part) for part in match.group().split("."))


def _padded(version: tuple[int, ...], width: int) -> tuple[int, ...]:
    return version + (0,) * (width - len(version))


def in_range(installed: str, supported: str) -> bool:
    """True when ``installed`` satisfies every bound of ``supported``, a comma-separated
    list of ``>=X.Y[.Z]`` and ``<X.Y[.Z]`` (the only operators the fences use)."""
    version = release(installed)
    for bound in supported.split(","):
        match = _BOUND.fullmatch(bound)
        if match is None:
            raise ValueError(f"unsupported bound {bound!r} in {supported!r}")
        operator, limit = match.group(1), release(match.group(2))
        width = max(len(version), len(limit))
        mine, theirs = _padded(version, width), _padded(limit, width)
        if (operator == ">=" and mine < theirs) or (operator == "<" and mine >= theirs):
            return False
    return True
