"""Paced behaviour: doing something at a steady rate from one loop, whatever the number
of viewers who do it.

A :class:`Credit` fills at ``rate`` units a second up to a burst; every ``period`` the
loop of :func:`paced` tops it up and lets a turn spend what it holds. A
:class:`RoundRobin` spends it over a fixed group of viewers in turn, each at most once
per ``gap`` seconds. ``Credit`` and ``RoundRobin`` are plain Python (no clock, no loop);
``paced`` is the thin loop around them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from livecart.loadtest.schedule import Schedule


@dataclass
class Credit:
    """Units that may be spent now: ``rate`` a second, at most ``burst`` saved up."""

    rate: float
    burst: float
    units: float = 0.0

    def fill(self, seconds: float) -> None:
        self.units = min(self.units + self.rate * seconds, self.burst)

    def covers(self, cost: float) -> bool:
        return self.units >= cost

    def spend(self, cost: float) -> None:
        self.units -= cost


async def paced(
    schedule: Schedule, period: float, credit: Credit, turn: Callable[[float], None]
) -> None:
    """Every ``period`` seconds until the run stops: fill ``credit`` and call
    ``turn(now)`` to spend it."""
    t = schedule.now()
    while not schedule.stopping:
        t += period
        await schedule.until(t)
        credit.fill(period)
        turn(schedule.now())


@dataclass
class RoundRobin:
    """A group of viewers acting in turn, each at most once per ``gap`` seconds."""

    members: list[int]
    gap: float
    turns: int = 0  # how many places in the round have been offered so far
    last: dict[int, float] = field(default_factory=dict)

    def spend(
        self, now: float, credit: Credit, cost: float, act: Callable[[int, int], bool]
    ) -> None:
        """Offer each member at most one go, in turn, while ``credit`` covers ``cost``.
        ``act(viewer, turn)`` says whether the viewer acted; if so it pays ``cost``."""
        for _ in range(len(self.members)):
            if not credit.covers(cost):
                break
            i = self.members[self.turns % len(self.members)]
            self.turns += 1
            if now - self.last.get(i, -10.0) < self.gap:
                continue
            if act(i, self.turns):
                self.last[i] = now
                credit.spend(cost)
