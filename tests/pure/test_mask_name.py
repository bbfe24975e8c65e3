"""Buyer names in the "just bought" toasts (``livecart.display_names.mask_name``): whole
characters only, whatever the script."""

from __future__ import annotations

import unicodedata

import pytest

from livecart.display_names import graphemes, mask_name


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("Alice", "A***e"),
        ("Al", "A***l"),
        ("A", "A***"),
        ("", "***"),
        ("   ", "***"),
        # Chinese: two characters keep the first, three keep first and last.
        ("李娜", "李*"),
        ("王小明", "王*明"),
        ("欧阳娜娜", "欧**娜"),
        ("爱新觉罗溥仪", "爱***仪"),
        ("王", "王***"),
        # Japanese and Korean names are wide characters too.
        ("さくら", "さ*ら"),
        ("김민준", "김*준"),
        # Emoji outside the BMP (a surrogate pair in UTF-16) stay whole.
        ("😀Bob", "😀***b"),
        ("Ann😀", "A***😀"),
        # A family emoji (ZWJ sequence), a skin tone, a flag: each one character.
        ("👨‍👩‍👧Kim", "👨‍👩‍👧***m"),
        ("Zoe👍🏽", "Z***👍🏽"),
        ("🇨🇳Li", "🇨🇳***i"),
        # Combining marks stay on their letter (decomposed "José", "Zoë").
        ("Jose\u0301", "J***é"),
        ("Zoe\u0308", "Z***ë"),
        ("e\u0301mile", "é***e"),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_graphemes_keep_marks_joiners_and_flags_together() -> None:
    assert graphemes("a\u0301b") == ["a\u0301", "b"]
    assert graphemes("👩‍💻x") == ["👩‍💻", "x"]
    assert graphemes("🇯🇵🇨🇳") == ["🇯🇵", "🇨🇳"]
    assert graphemes("1\ufe0f\u20e3") == ["1\ufe0f\u20e3"]
    assert graphemes("") == []


@pytest.mark.parametrize("name", ["李娜", "王小明", "😀😀", "👨‍👩‍👧👨‍👩‍👧", "a\u0301b\u0301"])
def test_mask_never_shows_a_whole_name_or_a_broken_character(name: str) -> None:
    masked = mask_name(name)
    assert masked != name and "*" in masked
    kept = masked.replace("*", "")
    whole = graphemes(unicodedata.normalize("NFC", name))
    assert all(unit in whole for unit in graphemes(kept))
    masked.encode("utf-16", "strict")  # no lone surrogate
