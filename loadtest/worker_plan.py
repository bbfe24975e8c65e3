"""What one client process of ``livecart loadtest`` is told to do: its share of the room's
viewers and rates, the run's timeline, and the sale (``loadtest.shoppers`` does it).

Plans are small and picklable: every process draws the same seeded assignment of the
whole room and keeps its own share, so nothing proportional to the room is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from livecart.loadtest.scenarios import Behaviour, Timeline, ViewerSpec, assign, split


@dataclass(frozen=True)
class SalePlan:
    """The flash sale as a client process is told of it with ``go``: the product, when it
    opens (seconds after the start) and the range of think times before "pay"."""

    product_id: str
    open_at: float  # seconds after the start
    think: tuple[float, float] = (0.3, 2.0)  # seconds between the hold and "pay"


@dataclass(frozen=True)
class WorkerPlan:
    """What one client process (``index`` of ``procs``) is told to do: where the server and
    the room are, the wire format, the whole room's size and samples, its share of the
    room-wide rates, the timeline, the lineup and the sale, the seconds to let replies
    settle at the end, and the seed every process draws the same room from."""

    index: int
    host: str
    port: int
    room: str
    fmt: str
    procs: int
    viewers_total: int  # the whole room; this process takes its share of assign()
    samples: int
    behaviour: Behaviour
    share: float  # this process's share of the room-wide rates
    timeline: Timeline
    lineup: list[str]
    sale: SalePlan | None
    settle: float = 10.0
    seed: int = 1

    def _room(self) -> list[ViewerSpec]:
        return assign(
            self.viewers_total,
            self.behaviour,
            samples=self.samples,
            ramp=self.timeline.ramp,
            seed=self.seed,
        )

    def viewers(self) -> list[ViewerSpec]:
        """This process's viewers: every process draws the same seeded assignment (a
        small plan to pickle, whatever the room's size) and keeps its share."""
        return split(self._room(), self.procs)[self.index]

    def role_share(self, flag: int) -> float:
        """This process's share of the room's viewers with ``flag`` (its chatters' share
        of the chat rate, say): the seeded draw splits no role exactly evenly."""
        specs = self._room()
        everyone = sum(1 for s in specs if s.flags & flag)
        mine = sum(1 for s in split(specs, self.procs)[self.index] if s.flags & flag)
        return mine / everyone if everyone else 0.0
