"""The pages' message catalogues (web/static/i18n/*.json) are complete.

English is the reference: every other language has every English key, with the same
``{placeholders}``, and every key the pages use (``t("...")``, ``msg("...")``,
``data-i18n``...) exists in English. So a new string cannot ship untranslated: the page
would fall back to English, and this test fails first.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "web" / "static"
I18N = STATIC / "i18n"
LANGS = ("en", "zh-CN")
PLURAL_FORMS = {"zero", "one", "two", "few", "many", "other"}


def load(lang: str) -> dict[str, Any]:
    data = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def forms(value: Any) -> list[str]:
    """The texts of a message: one string, or the forms of a plural object."""
    if isinstance(value, str):
        return [value]
    assert isinstance(value, dict) and "other" in value and set(value) <= PLURAL_FORMS, value
    assert all(isinstance(v, str) for v in value.values()), value
    return list(value.values())


def placeholders(value: Any) -> set[str]:
    return {name for text in forms(value) for name in re.findall(r"\{(\w+)\}", text)}


def missing_keys(reference: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """Keys of ``reference`` that ``other`` lacks or leaves empty."""
    return sorted(k for k in reference if not other.get(k))


def placeholder_mismatches(reference: dict[str, Any], other: dict[str, Any]) -> list[str]:
    return sorted(
        k for k in reference if k in other and placeholders(reference[k]) != placeholders(other[k])
    )


# -- what the pages use ------------------------------------------------------------------


def page_sources() -> dict[str, str]:
    files = [*sorted((STATIC / "js").glob("*.js")), *sorted(STATIC.glob("*.html"))]
    return {p.name: p.read_text(encoding="utf-8") for p in files}


def error_codes() -> list[str]:
    words = (STATIC / "js" / "words.js").read_text(encoding="utf-8")
    block = re.search(r"ERROR_CODES = \[(.*?)\]", words, re.S)
    assert block, "words.js lists ERROR_CODES"
    return re.findall(r'"([a-z_]+)"', block.group(1))


def used_keys(namespaces: set[str]) -> set[str]:
    """Every catalogue key the pages name: calls, data-i18n attributes, and any string
    literal of the form "<namespace>.<name>" (keys kept in tables, passed along)."""
    keys: set[str] = set()
    ns = "|".join(sorted(namespaces))
    for source in page_sources().values():
        keys |= set(re.findall(r"\b(?:t|msg)\(\s*\"([^\"]+)\"", source))
        keys |= set(re.findall(r'data-i18n="([^"]+)"', source))
        for attrs in re.findall(r'data-i18n-attr="([^"]+)"', source):
            keys |= {pair.split(":")[1].strip() for pair in attrs.split(";") if ":" in pair}
        keys |= set(re.findall(rf'"((?:{ns})\.[a-z0-9_]+)"', source))
    # Keys built at run time: error.<code> (words.js) and chat.<action>[_label].
    keys |= {f"error.{code}" for code in error_codes()}
    keys |= {f"chat.{a}{s}" for a in ("unmute", "unban") for s in ("", "_label")}
    return keys


# -- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_catalogues_are_flat_messages(lang: str) -> None:
    for key, value in load(lang).items():
        assert re.fullmatch(r"[a-z]+\.[a-z0-9_]+", key), key
        assert all(text.strip() for text in forms(value)), key


@pytest.mark.parametrize("lang", [lang for lang in LANGS if lang != "en"])
def test_every_english_key_is_translated(lang: str) -> None:
    en, other = load("en"), load(lang)
    assert missing_keys(en, other) == []
    assert sorted(set(other) - set(en)) == [], "keys English does not have"
    assert placeholder_mismatches(en, other) == []


def test_the_check_catches_a_key_missing_in_chinese() -> None:
    en = load("en")
    zh = dict(load("zh-CN"))
    del zh["shop.buy"]
    zh["shop.left"] = ""
    assert missing_keys(en, zh) == ["shop.buy", "shop.left"]
    zh = dict(load("zh-CN"), **{"shop.pay": "支付"})  # lost its {total}
    assert placeholder_mismatches(en, zh) == ["shop.pay"]


def test_every_key_the_pages_use_exists_in_english() -> None:
    en = load("en")
    namespaces = {key.split(".")[0] for key in en}
    used = used_keys(namespaces)
    assert len(used) > 100
    assert sorted(used - set(en)) == []


def test_every_documented_error_code_has_words() -> None:
    documented: set[str] = set()
    for doc in ("protocol.md", "checkout.md"):
        text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
        for section in re.split(r"\n#+ ", text):
            if section.lower().startswith(("error codes", "errors")):
                documented |= set(re.findall(r"^\| `([a-z_]+)`", section, re.M))
    assert {"sold_out", "slow_mode", "bad_args", "payment_declined"} <= documented
    codes = set(error_codes())
    assert sorted(documented - codes) == []
    en = load("en")
    assert sorted(f"error.{c}" for c in codes if f"error.{c}" not in en) == []
