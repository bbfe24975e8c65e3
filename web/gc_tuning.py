"""Garbage-collector settings for a server that holds thousands of live connections.

Each WebSocket keeps dozens of long-lived objects. With CPython's default thresholds
(700, 10, 10) a burst of short-lived allocations (5,000 buyers pressing "buy" in one
second) triggers collections that walk all of them again and again: measured on the
flash-sale benchmark, that alone took the p50 time to a buy reply from 22 ms to 758 ms.

``tune()`` moves what start-up created into the permanent generation (``gc.freeze``)
and collects the young generation every 100,000 allocations instead of 700, the middle
one every 50 of those and the full heap every 100 of those.

The price is paid when viewers leave: aiohttp's objects of one connection (request,
handler, transport, ``WebSocketResponse``, an exception's traceback) refer to each other
in cycles, so a closed connection is freed by the cycle collector only, and with those
thresholds a connection that lived through a young collection reaches an older
generation that is almost never collected. Measured with ``make soak``: about 12 KiB
of RSS per connection that never came back, 9 MiB a minute at 27 joins a second.
``CollectPolicy`` says when a full collection is due instead: once the connections
closed since the last one reach a quarter of those still open (at least
``MIN_CLOSED``), or as soon as a node has none left, and at most once every
``MIN_INTERVAL`` seconds. A full collection walks the objects of the connections still
open, so its cost per closed connection stays constant (CPython's own rule for its
oldest generation, keyed on what makes the garbage here).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

THRESHOLDS = (100_000, 50, 100)
MIN_CLOSED = 200
MIN_INTERVAL = 5.0
SHARE = 0.25


def tune() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


@dataclass(slots=True)
class CollectPolicy:
    """When to run a full collection, from the count of sessions ended and still open.
    Pure: the caller gives the counts and the time, and collects when ``due`` says so."""

    min_closed: int = MIN_CLOSED
    min_interval: float = MIN_INTERVAL
    share: float = SHARE
    ended_at_last: int = 0
    last: float = float("-inf")

    def due(self, ended: int, open_now: int, now: float) -> bool:
        """True when a collection should run now; the caller then calls ``done``."""
        closed = ended - self.ended_at_last
        if closed <= 0 or now - self.last < self.min_interval:
            return False
        return open_now == 0 or closed >= max(self.min_closed, self.share * open_now)

    def done(self, ended: int, now: float) -> None:
        """Note that a collection ran at ``now``, with ``ended`` sessions ended so far."""
        self.ended_at_last = ended
        self.last = now


def collect() -> int:
    """A full collection; the number of unreachable objects it found."""
    return gc.collect()
