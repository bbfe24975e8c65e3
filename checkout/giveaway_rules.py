"""The giveaway's fair draw: commit to a seed, reveal it, and anyone can recompute.

``commitment(seed_hex)`` is announced when the giveaway opens; after the end the seed is
revealed with the sorted eligible viewer ids and ``draw(seed_hex, eligible)`` names the
winner: ``sha256(f"{seed_hex}:{counter}")`` read as a 256-bit integer, rejected while it
falls in the last, partial block of ``n`` values (so every entrant is equally likely),
then taken modulo ``n``. docs/auctions.md gives the same recipe for auditors.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

SEED_BYTES = 32
RULES = ("watched", "chatted", "bought")


def new_seed() -> str:
    """A fresh secret seed, hex."""
    return secrets.token_hex(SEED_BYTES)


def commitment(seed_hex: str) -> str:
    """What is announced before the giveaway opens: ``sha256(seed_hex)``, hex."""
    return hashlib.sha256(seed_hex.encode()).hexdigest()


def entrants(eligible: Iterable[str]) -> list[str]:
    """The draw's order: distinct ids sorted by their UTF-8 bytes."""
    return sorted(set(eligible), key=lambda v: v.encode())


def draw(seed_hex: str, eligible: Iterable[str]) -> str | None:
    """The winner among ``eligible`` for ``seed_hex``, or None when nobody is eligible."""
    people = entrants(eligible)
    n = len(people)
    if n == 0:
        return None
    limit = 2**256 - (2**256 % n)
    counter = 0
    while True:
        x = int(hashlib.sha256(f"{seed_hex}:{counter}".encode()).hexdigest(), 16)
        if x < limit:
            return people[x % n]
        counter += 1
