"""The reservation life cycle table: every legal move, every illegal one raises."""

from __future__ import annotations

import itertools

import pytest

from livecart.checkout.errors import IllegalTransition
from livecart.checkout.lifecycle import (
    FINAL,
    HOLDING,
    INITIAL,
    TRANSITIONS,
    Event,
    State,
    can,
    is_legal_path,
    lua_table,
    next_state,
)

LEGAL = {
    ("reserved", "payment_approved"): "paid",
    ("paid", "order_recorded"): "ordered",
    ("reserved", "release"): "released",
    ("reserved", "expire"): "expired",
    ("expired", "payment_approved"): "refunded",
    ("released", "payment_approved"): "refunded",
    ("pending", "take"): "reserved",
    ("pending", "release"): "released",
    ("pending", "expire"): "expired",
}


def test_the_table_is_exactly_the_documented_moves() -> None:
    table = {(s.value, e.value): t.value for s, row in TRANSITIONS.items() for e, t in row.items()}
    assert table == LEGAL
    assert set(TRANSITIONS) == set(State)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(State, Event)))
def test_every_pair_is_either_in_the_table_or_raises(state: State, event: Event) -> None:
    if (state.value, event.value) in LEGAL:
        assert next_state(state, event) == LEGAL[(state.value, event.value)]
        assert can(state, event)
    else:
        with pytest.raises(IllegalTransition) as info:
            next_state(state, event)
        assert info.value.state == state and info.value.event == event
        assert not can(state, event)


def test_unknown_names_raise_illegal_transition() -> None:
    with pytest.raises(IllegalTransition):
        next_state("shipped", "expire")
    with pytest.raises(IllegalTransition):
        next_state("reserved", "ship")


def test_a_paid_order_can_never_be_released_or_expired() -> None:
    for state in (State.PAID, State.ORDERED):
        for event in (Event.RELEASE, Event.EXPIRE):
            assert not can(state, event)


def test_holding_and_final_states() -> None:
    assert INITIAL is State.RESERVED
    assert {State.RESERVED, State.PAID} == HOLDING
    assert {State.ORDERED, State.REFUNDED} == FINAL


def test_observed_paths() -> None:
    assert is_legal_path(["reserved", "ordered"])  # paid happens inside one script
    assert is_legal_path(["reserved", "reserved", "expired", "refunded"])
    assert not is_legal_path(["ordered", "reserved"])
    assert not is_legal_path(["expired", "ordered"])
    assert not is_legal_path(["released", "expired"])
    assert is_legal_path(["pending", "reserved", "ordered"])  # first paid, first served
    assert is_legal_path(["pending", "expired"])
    assert not is_legal_path(["pending", "ordered", "pending"])
    assert not is_legal_path(["reserved", "pending"])


def test_lua_table_carries_every_entry() -> None:
    text = lua_table()
    for (state, event), target in LEGAL.items():
        assert f'{event} = "{target}"' in text
        assert f"  {state} = {{" in text
    assert "ordered = {}" in text
