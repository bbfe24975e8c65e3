"""Which of two states of an auction is the newer, for everything that applies
``auction`` events (the room state, a batch's conflation, the load tester's watcher).

Bids are decided one at a time in Redis, which raises the auction's ``version`` with
every change, but each worker and node emits the events of the bids it took in
parallel, so two events may arrive in the other order (docs/protocol.md). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def newer_auction(held: Mapping[str, Any] | None, incoming: Mapping[str, Any]) -> bool:
    """Whether ``incoming`` (an ``auction`` event's object) is newer than the auction
    ``held``: another auction, or a higher ``version``. An older one changes nothing.
    Objects without a version (an older server's) are taken as they come."""
    if held is None or held.get("id") != incoming.get("id"):
        return True
    old, new = held.get("version"), incoming.get("version")
    if not isinstance(old, int) or not isinstance(new, int) or not old or not new:
        return True
    return new > old
