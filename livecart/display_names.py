"""The one rule for a person's display name, shared by chat and checkout.

A display name is 1 to ``MAX_DISPLAY_NAME`` printable characters (``str.isprintable``:
no control, format (bidi overrides, zero-width), separator-other or unassigned code
points). docs/protocol.md (the ``name`` query parameter) states the same rule. Pure.
"""

from __future__ import annotations

from typing import TypeGuard

MAX_DISPLAY_NAME = 32
DEFAULT_DISPLAY_NAME = "guest"


def is_display_name(value: object) -> TypeGuard[str]:
    """True when ``value`` already satisfies the rule."""
    return isinstance(value, str) and 1 <= len(value) <= MAX_DISPLAY_NAME and value.isprintable()


def clean_display_name(raw: str | None) -> str:
    """The display name a connection gets from what its client sent: trimmed, cut to
    ``MAX_DISPLAY_NAME`` characters, non-printable characters removed, and
    ``DEFAULT_DISPLAY_NAME`` when nothing is left. Always satisfies ``is_display_name``."""
    name = "".join(ch for ch in (raw or "").strip()[:MAX_DISPLAY_NAME] if ch.isprintable())
    return name.strip() or DEFAULT_DISPLAY_NAME
