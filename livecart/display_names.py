"""The one rule for a person's display name, shared by chat and checkout.

A display name is 1 to ``MAX_DISPLAY_NAME`` printable characters (``str.isprintable``:
no control, format (bidi overrides, zero-width), separator-other or unassigned code
points) in the form ``livecart.text.normalize`` leaves (NFKC, marks bounded).
docs/protocol.md (the ``name`` query parameter) states the same rule.

``mask_name`` is how the rest of the room sees a buyer's name ("just bought" toasts,
auction leaders and winners): whole characters only (``graphemes``), whatever the
script. Pure.
"""

from __future__ import annotations

import unicodedata
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


# -- masking: a buyer's name as the rest of the room sees it --------------------------------

_ZWJ = "\u200d"


def _joins(ch: str) -> bool:
    """True for a code point that belongs to the character before it: combining and
    enclosing marks, variation selectors, emoji skin-tone modifiers and tag characters."""
    cp = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or 0xFE00 <= cp <= 0xFE0F
        or 0xE0100 <= cp <= 0xE01EF
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0020 <= cp <= 0xE007F
    )


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def graphemes(text: str) -> list[str]:
    """``text`` cut into user-perceived characters, by a simple rule (the stdlib has no
    grapheme segmentation): a base character takes every following mark, variation
    selector, skin-tone modifier and tag character; a zero-width joiner glues the next
    character on too (emoji ZWJ sequences); two regional indicators make one flag. A
    Python string holds code points, so a surrogate pair is never split."""
    units: list[str] = []
    glue = False
    for ch in text:
        if units and (glue or ch == _ZWJ or _joins(ch)):
            units[-1] += ch
            glue = ch == _ZWJ
            continue
        last = units[-1] if units else ""
        if _is_regional(ch) and len(last) == 1 and _is_regional(last):
            units[-1] += ch
            continue
        units.append(ch)
        glue = False
    return units


def _wide(unit: str) -> bool:
    return unicodedata.east_asian_width(unit[0]) in ("W", "F")


def mask_name(name: str) -> str:
    """A buyer's name as others see it, by whole characters (``graphemes``):
    ``"Alice"`` -> ``"A***e"``, ``"Al"`` -> ``"A***l"``, one character -> ``"A***"``.
    Names written in wide (CJK) characters are short, so they keep less: two characters
    keep the first (``"李娜"`` -> ``"李*"``), three or more the first and the last with
    a star for each hidden one, at most three (``"王小明"`` -> ``"王*明"``)."""
    units = graphemes(unicodedata.normalize("NFC", name.strip()))
    if not units:
        return "***"
    if len(units) == 1:
        return f"{units[0]}***"
    if sum(map(_wide, units)) * 2 > len(units):
        if len(units) == 2:
            return f"{units[0]}*"
        return f"{units[0]}{'*' * min(3, len(units) - 2)}{units[-1]}"
    return f"{units[0]}***{units[-1]}"
