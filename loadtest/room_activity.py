"""What the viewers of one ``livecart loadtest`` client process do in the room besides
buying: chat, heart taps and "explain this", each at this process's share of the
room-wide rate, from one paced loop each (``loadtest.pacing``).

- chat: the chatters in turn, each at most once per ``CHAT_GAP`` (the server's limit);
  the process's share of the rate is its share of the room's chatters;
- hearts: the tappers in turn, each at most once a second, with as many taps in one
  command as makes the rate (1 to 50; ``scenarios.taps_per_command``); the share is the
  process's share of the tappers;
- explain: a random viewer asks about a random product of the lineup; one whose
  connection is not open misses its turn.

From ``JOIN_GRACE`` seconds after the ramp each loop counts, in ``WorkerCounts``, what
was due (``<kind>_due``, in commands for chat and explain, in taps for hearts) and what
could not be sent (``<kind>_missed``): the run's plan (``loadtest.verdict``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from livecart.loadtest.client_context import ClientContext
from livecart.loadtest.pacing import Credit, RoundRobin, paced
from livecart.loadtest.scenarios import (
    CHAT_GAP,
    CHATTER,
    HEART_GAP,
    JOIN_GRACE,
    TAPPER,
    taps_per_command,
)
from livecart.loadtest.wsclient import stamped_text

CHAT_LINES = (
    "hello from the load test",
    "how much is shipping?",
    "is this in size M?",
    "wow",
    "can you show the back?",
    "just bought one!",
    "what colours are there?",
    "love it",
)


class RoomActivity:
    """The room's chatter of one client process: chat messages, hearts and "explain this"
    requests, each paced at this process's share of the plan's room-wide rate."""

    def __init__(self, ctx: ClientContext) -> None:
        self.ctx = ctx
        self.plan = ctx.plan
        self.schedule = ctx.schedule
        self.commands = ctx.commands

    def _rate(self, room_rate: float, flag: int = 0) -> float:
        """This process's share of a room-wide rate: of its viewers with ``flag``, or of
        all its viewers."""
        return room_rate * (self.plan.role_share(flag) if flag else self.plan.share)

    async def _paced(
        self, kind: str, period: float, credit: Credit, turn: Callable[[float], None]
    ) -> None:
        """``paced``, with the figures of the plan put in the counters after every turn."""
        count = self.ctx.counts.count

        def counted(t: float) -> None:
            turn(t)
            credit.keep()
            count[kind + "_due"] = round(credit.due)
            count[kind + "_missed"] = int(credit.missed)  # whole commands (taps) only

        await paced(self.schedule, period, credit, counted, self.plan.timeline.ramp + JOIN_GRACE)

    async def chat(self) -> None:
        """Send chat lines from the chatters in turn (each at most once per ``CHAT_GAP``),
        the send time stamped in the text for the sample viewers' latency, until the run
        stops."""
        chatters = RoundRobin([s.index for s in self.ctx.viewers if s.flags & CHATTER], CHAT_GAP)
        if not chatters.members:
            return
        rate = self._rate(self.plan.behaviour.chat_rate, CHATTER)

        def say(i: int, turn: int) -> bool:
            # the send time rides in the text: the sample viewers measure from it
            line = stamped_text(CHAT_LINES[turn % len(CHAT_LINES)], time.time() * 1000)
            return self.commands.send(i, "chat", {"cmd": "chat", "text": line}) is not None

        credit = Credit(rate, max(1.0, rate))
        await self._paced("chat", 0.05, credit, lambda t: chatters.spend(t, credit, 1, say))

    async def hearts(self) -> None:
        """Send ``heart`` commands from the tappers in turn, several taps each so that each
        sends about one command a second, until the run stops."""
        tappers = RoundRobin([s.index for s in self.ctx.viewers if s.flags & TAPPER], HEART_GAP)
        if not tappers.members:
            return
        rate = self._rate(self.plan.behaviour.heart_rate, TAPPER)
        per = taps_per_command(rate, len(tappers.members))  # ~1 command a second each

        def tap(i: int, turn: int) -> bool:
            if self.commands.send(i, "heart", {"cmd": "heart", "n": per}) is None:
                return False
            self.ctx.counts.count["heart_taps"] += per
            return True

        credit = Credit(rate, max(per, rate))
        await self._paced("heart", 0.25, credit, lambda t: tappers.spend(t, credit, per, tap))

    async def explain(self) -> None:
        """Send ``explain`` requests for random products of the lineup from random connected
        viewers, until the run stops."""
        rate = self._rate(self.plan.behaviour.explain_rate)
        credit = Credit(rate, max(1.0, rate))

        def ask(now: float) -> None:
            while credit.covers(1) and self.ctx.conns:
                credit.spend(1)
                i = self.ctx.rng.choice(list(self.ctx.conns))
                product = self.ctx.rng.choice(self.plan.lineup)
                cmd = {"cmd": "explain", "product_id": product}
                if self.commands.send(i, "explain", cmd) is None:
                    credit.miss(1)

        await self._paced("explain", 0.5, credit, ask)
