"""The reservation life cycle, as one table.

Every legal move is one entry of ``TRANSITIONS``; anything else raises
``IllegalTransition``. The Lua scripts enforce the very same table: ``lua_table()`` renders
it into the prelude every script is loaded with, so the rules live only here.

::

        PENDING ── take ──▶ (first_paid only: the units are taken when payment starts)
           │ release, expire → RELEASED, EXPIRED
           ▼
                   payment_approved            order_recorded
        RESERVED ─────────────────────▶ PAID ─────────────────▶ ORDERED
           │  │
   release │  │ expire
           ▼  ▼
    RELEASED  EXPIRED ──── payment_approved ───▶ REFUNDED
        │                                           ▲
        └──────────── payment_approved ─────────────┘

- ``pending`` (sales with the ``first_paid`` policy): the buyer may pay, but no units
  are held; ``take`` (the start of a payment) holds them, if there still are any, for
  as long as the payment may take. It counts towards the buyer's limit.
- ``reserved``: units are held (counted in ``reserved``); the hold has an expiry.
- ``paid``: the provider approved the charge while the hold was live. The confirm
  script moves on to ``ordered`` in the same atomic step, so ``paid`` is never seen
  from outside, but it is the state the order is written from.
- ``ordered``: the units are sold and the order is in the room's orders stream.
- ``released``: the payment was declined or timed out; the units went back on sale.
- ``expired``: the hold's time ran out; the units went back on sale.
- ``refunded``: a payment was approved after the hold had ended (expired, or released
  by a racing failure). The charge is refunded; it never turns into an oversell.

A reservation holds stock exactly in ``HOLDING`` states. ``ordered`` and ``refunded``
are final.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping

from livecart.checkout.errors import IllegalTransition


class State(enum.StrEnum):
    """A reservation's state (the module docstring describes each); ``ordered`` and
    ``refunded`` are final."""

    PENDING = "pending"
    RESERVED = "reserved"
    PAID = "paid"
    ORDERED = "ordered"
    RELEASED = "released"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class Event(enum.StrEnum):
    """What can happen to a reservation; ``TRANSITIONS`` says which state each event leads
    to from which, and any other pair raises ``IllegalTransition``."""

    TAKE = "take"
    PAYMENT_APPROVED = "payment_approved"
    ORDER_RECORDED = "order_recorded"
    RELEASE = "release"
    EXPIRE = "expire"


TRANSITIONS: Mapping[State, Mapping[Event, State]] = {
    State.PENDING: {
        Event.TAKE: State.RESERVED,
        Event.RELEASE: State.RELEASED,
        Event.EXPIRE: State.EXPIRED,
    },
    State.RESERVED: {
        Event.PAYMENT_APPROVED: State.PAID,
        Event.RELEASE: State.RELEASED,
        Event.EXPIRE: State.EXPIRED,
    },
    State.PAID: {
        Event.ORDER_RECORDED: State.ORDERED,
    },
    State.EXPIRED: {
        Event.PAYMENT_APPROVED: State.REFUNDED,
    },
    State.RELEASED: {
        Event.PAYMENT_APPROVED: State.REFUNDED,
    },
    State.ORDERED: {},
    State.REFUNDED: {},
}

INITIAL = State.RESERVED
INITIAL_FIRST_PAID = State.PENDING
LIVE: frozenset[State] = frozenset({State.PENDING, State.RESERVED})
"""States of a purchase that can still be paid (listed in the room's ``holds``)."""
HOLDING: frozenset[State] = frozenset({State.RESERVED, State.PAID})
FINAL: frozenset[State] = frozenset(s for s, row in TRANSITIONS.items() if not row)


def next_state(state: str, event: str) -> State:
    """The state after ``event``; raises ``IllegalTransition`` when the table has no entry
    (including for unknown state or event names)."""
    try:
        return TRANSITIONS[State(state)][Event(event)]
    except (KeyError, ValueError):
        raise IllegalTransition(state, event) from None


def can(state: str, event: str) -> bool:
    """Whether ``event`` is legal in ``state``."""
    try:
        next_state(state, event)
    except IllegalTransition:
        return False
    return True


def is_legal_path(states: list[str]) -> bool:
    """Whether a sequence of observed states can be produced by the table.

    Observers (tests, audits) sample states from outside, so a step may skip states that
    only exist inside one atomic script: ``reserved`` then ``ordered`` is legal because
    ``reserved -> paid -> ordered`` is. Repeating a state is legal (nothing happened).
    """
    for here, there in itertools.pairwise(states):
        if here != there and there not in _reachable(State(here)):
            return False
    return True


def _reachable(start: State) -> set[State]:
    seen: set[State] = set()
    todo = [start]
    while todo:
        for target in TRANSITIONS[todo.pop()].values():
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def lua_table() -> str:
    """``TRANSITIONS`` as a Lua table literal: ``{reserved = {expire = "expired", ...}}``."""
    rows = []
    for state, row in TRANSITIONS.items():
        cells = ", ".join(f'{event.value} = "{target.value}"' for event, target in row.items())
        rows.append(f"  {state.value} = {{{cells}}}")
    return "{\n" + ",\n".join(rows) + "\n}"
