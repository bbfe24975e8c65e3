"""The one rule for a person's display name, shared by chat and checkout.

A display name is 1 to ``MAX_DISPLAY_NAME`` printable characters (``str.isprintable``:
no control, format (bidi overrides, zero-width), separator-other or unassigned code
points) in the form ``livecart.text.normalize`` leaves (NFKC, marks bounded).
docs/protocol.md (the ``name`` query parameter) states the same rule. Pure.
"""

from __future__ import annotations

from typing import TypeGuard

from livecart.limits import MAX_DISPLAY_NAME
from livecart.text import TextRefused, normalize

DEFAULT_DISPLAY_NAME = "guest"


def is_display_name(value: object) -> TypeGuard[str]:
    """True when ``value`` already satisfies the rule."""
    if not (isinstance(value, str) and 1 <= len(value) <= MAX_DISPLAY_NAME):
        return False
    try:
        return value.isprintable() and normalize(value) == value
    except TextRefused:
        return False


def clean_display_name(raw: str | None) -> str:
    """The display name a connection gets from what its client sent: normalized
    (``livecart.text``; a lone surrogate is dropped with the other non-printable
    characters), trimmed, cut to ``MAX_DISPLAY_NAME`` characters, non-printable
    characters removed, and ``DEFAULT_DISPLAY_NAME`` when nothing is left. Always
    satisfies ``is_display_name``."""
    raw = "".join(ch for ch in (raw or "")[: MAX_DISPLAY_NAME * 4] if ch.isprintable())
    name = normalize(raw).strip()[:MAX_DISPLAY_NAME]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    while name and normalize(name) != name:  # a cut that split a mark from its letter
        name = normalize(name).strip()
    return name or DEFAULT_DISPLAY_NAME
