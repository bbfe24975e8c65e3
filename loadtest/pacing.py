"""Paced behaviour: doing something at a steady rate from one loop, whatever the number
of viewers who do it.

A :class:`Credit` fills at ``rate`` units a second; every ``period`` the loop of
:func:`paced` tops it up, lets a turn spend what it holds, and keeps at most a burst
for later: what is over the burst after a turn was due and could not be spent (nobody
free to act) and is counted as ``missed``. From ``count_from`` seconds on (the end of
the ramp, and a grace) the credit also counts what was ``due``: the run's plan
(``loadtest.verdict``) compares the two. A :class:`RoundRobin` spends it over a fixed
group of viewers in turn, each at most once per ``gap`` seconds. ``Credit`` and
``RoundRobin`` are plain Python (no clock, no loop); ``paced`` is the thin loop around
them, and hands the turns their nominal time (a multiple of ``period``), so that a
viewer's gap never grows with the timer's jitter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from livecart.loadtest.schedule import Schedule


@dataclass
class Credit:
    """Units that may be spent now: ``rate`` a second, at most ``burst`` saved up past a
    turn. While ``counting``, ``due`` adds up what filled it and ``missed`` what had to
    be thrown away over the burst."""

    rate: float
    burst: float
    units: float = 0.0
    counting: bool = False
    due: float = 0.0
    missed: float = 0.0

    def fill(self, seconds: float) -> None:
        """Add ``seconds`` worth of units (spend them, then :meth:`keep`)."""
        self.units += self.rate * seconds
        if self.counting:
            self.due += self.rate * seconds

    def keep(self) -> None:
        """After a turn: keep at most ``burst``; the rest was due and not spent."""
        if self.units > self.burst:
            if self.counting:
                self.missed += self.units - self.burst
            self.units = self.burst

    def miss(self, cost: float) -> None:
        """``cost`` units were spent on something that could not be done."""
        if self.counting:
            self.missed += cost

    def covers(self, cost: float) -> bool:
        """Whether the credit holds at least ``cost`` units now."""
        return self.units >= cost

    def spend(self, cost: float) -> None:
        """Take ``cost`` units (the caller checked ``covers``)."""
        self.units -= cost


async def paced(
    schedule: Schedule,
    period: float,
    credit: Credit,
    turn: Callable[[float], None],
    count_from: float = 0.0,
) -> None:
    """Every ``period`` seconds until the run stops: fill ``credit``, call ``turn(t)``
    (``t`` the turn's nominal time) to spend it, and keep at most its burst. The credit
    counts what is due and missed from ``count_from`` seconds on."""
    k = max(0, int(schedule.now() / period))
    while not schedule.stopping:
        k += 1
        t = k * period
        await schedule.until(t)
        credit.counting = t > count_from
        credit.fill(period)
        turn(t)
        credit.keep()


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
            if now - self.last.get(i, -10.0) < self.gap - 1e-6:  # float sums of periods
                continue
            if act(i, self.turns):
                self.last[i] = now
                credit.spend(cost)
