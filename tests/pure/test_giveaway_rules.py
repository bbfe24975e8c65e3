"""The giveaway draw: committed, recomputable, uniform."""

from __future__ import annotations

import hashlib
from collections import Counter

from livecart.checkout.giveaway_rules import commitment, draw, entrants, new_seed


def test_commitment_is_sha256_of_the_seed_and_the_draw_is_deterministic() -> None:
    seed = new_seed()
    assert commitment(seed) == hashlib.sha256(seed.encode()).hexdigest()
    people = ["vbbbbbbbb", "vaaaaaaaa", "vcccccccc"]
    assert draw(seed, people) == draw(seed, reversed(people))
    assert draw(seed, people) in people
    assert draw(seed, []) is None
    assert entrants(people) == sorted(people)


def test_the_draw_is_close_to_uniform() -> None:
    people = [f"v{i:08d}" for i in range(7)]
    wins = Counter(draw(f"{n:064x}", people) for n in range(7_000))
    assert set(wins) == set(people)
    assert all(800 < count < 1_200 for count in wins.values()), wins
