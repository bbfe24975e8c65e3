"""The text rules: how every piece of human text is cleaned before it is checked or kept.

Chat messages, display names, product names, room titles and host names, and banned
words all go through ``normalize`` (docs/protocol.md, "Text"):

1. a lone surrogate (U+D800-U+DFFF: it cannot be written as UTF-8, so no client or
   datastore could read it back) is refused with ``TextRefused``, never stripped;
2. NFKC: fullwidth and compatibility forms become their plain letters (``ｆｕｌｌ`` ->
   ``full``, ``ﬁ`` -> ``fi``), other spaces become U+0020;
3. invisible format characters (Unicode category Cf: zero-width space, joiners, word
   joiner, BOM, soft hyphen, bidi embeddings, overrides and isolates such as U+202E and
   U+2066-U+2069, tag characters) are removed. The one kept is a zero-width joiner
   between two symbols, which makes one emoji of a family or a profession;
4. line and paragraph separators (U+2028, U+2029) become spaces;
5. combining marks are bounded: at most ``MAX_MARKS`` in a row after one base character,
   the rest dropped (so a message cannot stack hundreds of marks over a line).

``skeleton`` is what the banned-word match compares: the normalized text case-folded,
accents and other marks on Latin, Greek and Cyrillic letters removed, and the Cyrillic
and Greek letters that look like Latin ones folded to those (``CONFUSABLES``, a small
table from Unicode's confusables list). CJK, kana, Hangul and every other script are left
as they are. ``banned_word_pattern`` matches skeletons: a word of letters and digits as a
whole word, a word in a script written without spaces (CJK, kana, Thai...) anywhere.

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from livecart.limits import MAX_MARKS

ZWJ = "\u200d"
_SEPARATORS = {"\u2028": " ", "\u2029": " "}

# Cyrillic and Greek letters whose glyph is a Latin letter's (Unicode confusables.txt,
# lowercase after case folding), and a few Latin look-alikes NFKC leaves alone.
CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "і": "i",
        "ї": "i", "ј": "j", "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p",
        "ԛ": "q", "г": "r", "ѕ": "s", "т": "t", "џ": "u", "ѵ": "v", "ԝ": "w", "х": "x",
        "у": "y", "ь": "b", "ү": "y", "ɡ": "g",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ϲ": "c", "ϳ": "j",
        "μ": "u",
        # Latin look-alikes
        "ı": "i", "ȷ": "j", "ʟ": "l", "ɪ": "i", "ᴏ": "o", "ꜱ": "s",
    }
)  # fmt: skip


class TextRefused(ValueError):
    """Text that cannot be taken at all (a lone surrogate). ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


LONE_SURROGATE = "contains a lone surrogate (U+D800-U+DFFF)"


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` holds a code point UTF-8 cannot encode (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _is_symbol(ch: str) -> bool:
    return unicodedata.category(ch) in ("So", "Sk") or ch == "\ufe0f"


def normalize(text: str) -> str:
    """``text`` cleaned by the rules above (not trimmed). Raises ``TextRefused``."""
    if has_lone_surrogate(text):
        raise TextRefused(LONE_SURROGATE)
    if text.isascii():
        return text  # ASCII is NFKC already and holds no format characters or marks
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    marks = 0
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if category == "Cf":
            joins = ch == ZWJ and out and i + 1 < len(text)
            if joins and _is_symbol(out[-1]) and _is_symbol(text[i + 1]):
                out.append(ch)
            continue
        if category[0] == "M":
            marks += 1
            if marks > MAX_MARKS:
                continue
        else:
            marks = 0
        out.append(_SEPARATORS.get(ch, ch))
    return "".join(out)


def _folds_marks(ch: str) -> bool:
    """Latin, Greek and Cyrillic letters lose their marks in a skeleton."""
    return ch.isascii() or "\u00c0" <= ch <= "\u052f" or "\u1e00" <= ch <= "\u1fff"


def skeleton(text: str) -> str:
    """The form the banned-word match compares (see above). Raises ``TextRefused``."""
    folded = normalize(text).casefold()
    if folded.isascii():
        return folded
    out: list[str] = []
    base = ""
    for ch in unicodedata.normalize("NFD", folded):
        if unicodedata.category(ch)[0] == "M":
            if _folds_marks(base):
                continue
        else:
            base = ch
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).translate(CONFUSABLES)


def _spaced(word: str) -> bool:
    """Whether ``word`` belongs to a script that separates words with spaces (so it is
    matched as a whole word); CJK, kana, Thai and the like are matched anywhere."""
    return all(
        not ch.isalpha() or ch.isascii() or "\u00c0" <= ch <= "\u1fff" or "\ua640" <= ch <= "\ua69f"
        for ch in word
    )


def banned_word_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any of ``words`` in a ``skeleton``; words holding a lone
    surrogate (or nothing at all once cleaned) are left out, never an error."""
    skeletons: set[str] = set()
    for word in words:
        try:
            shape = skeleton(word).strip()
        except TextRefused:
            continue
        if shape:
            skeletons.add(shape)
    if not skeletons:
        return None
    ordered = sorted(skeletons, key=len, reverse=True)
    body = "|".join(
        rf"(?<!\w){re.escape(w)}(?!\w)" if _spaced(w) else re.escape(w) for w in ordered
    )
    return re.compile(body)


def contains_banned_word(text: str, pattern: re.Pattern[str] | None) -> bool:
    """Whether ``text`` (any text; a lone surrogate counts as no match) holds a word of
    ``pattern`` (``banned_word_pattern``)."""
    if pattern is None:
        return False
    try:
        return pattern.search(skeleton(text)) is not None
    except TextRefused:
        return False
