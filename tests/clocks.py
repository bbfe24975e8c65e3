"""A settable clock for the checkout tests: the service reads ``clock()``; the test moves
it (``advance``, or ``t`` directly) to make holds, leases and sales come due."""

from __future__ import annotations


class FakeClock:
    def __init__(self, t: float = 1_763_760_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
