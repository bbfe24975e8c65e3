"""What the parts of one ``livecart loadtest`` client process share.

``loadtest.shoppers`` makes one :class:`ClientContext` and hands it to the crowd
(``loadtest.crowd``), the buyers (``loadtest.buyers``) and the room activity
(``loadtest.room_activity``): the plan, the same clock and counters, the viewers'
current connections and the commands sent on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from livecart.loadtest.commands import Commands
from livecart.loadtest.scenarios import ViewerSpec
from livecart.loadtest.schedule import Schedule
from livecart.loadtest.worker_counts import WorkerCounts
from livecart.loadtest.worker_plan import WorkerPlan
from livecart.loadtest.wsclient import Viewer


@dataclass(frozen=True)
class ClientContext:
    """What a client process's crowd, buyers and room activity share: the plan, its viewers,
    one schedule, one set of counters, each viewer's current connection, the commands sent
    on them and one random generator. Frozen: the fields are never replaced, while the
    dicts they hold change."""

    plan: WorkerPlan  # as the process was started (the sale comes later, with "go")
    viewers: list[ViewerSpec]  # this process's share of the room
    schedule: Schedule
    counts: WorkerCounts
    conns: dict[int, Viewer]  # each viewer's current connection: the crowd keeps it
    commands: Commands  # sent on ``conns``
    rng: Random
