"""What the viewers of one ``livecart loadtest`` client process do in the room besides
buying: chat, heart taps and "explain this", each at this process's share of the
room-wide rate, from one paced loop each (``loadtest.pacing``).

- chat: the chatters in turn, each at most once per ``CHAT_GAP`` (the server's limit);
- hearts: the tappers in turn, each at most once a second, with as many taps in one
  command as makes the rate (1 to 50);
- explain: a random connected viewer asks about a random product of the lineup.
"""

from __future__ import annotations

import time

from livecart.loadtest.client_context import ClientContext
from livecart.loadtest.pacing import Credit, RoundRobin, paced
from livecart.loadtest.scenarios import CHAT_GAP, CHATTER, TAPPER
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
    def __init__(self, ctx: ClientContext) -> None:
        self.ctx = ctx
        self.plan = ctx.plan
        self.schedule = ctx.schedule
        self.commands = ctx.commands

    def _rate(self, room_rate: float) -> float:
        return room_rate * self.plan.share

    async def chat(self) -> None:
        chatters = RoundRobin([s.index for s in self.ctx.viewers if s.flags & CHATTER], CHAT_GAP)
        if not chatters.members:
            return
        rate = self._rate(self.plan.behaviour.chat_rate)

        def say(i: int, turn: int) -> bool:
            # the send time rides in the text: the sample viewers measure from it
            line = stamped_text(CHAT_LINES[turn % len(CHAT_LINES)], time.time() * 1000)
            return self.commands.send(i, "chat", {"cmd": "chat", "text": line}) is not None

        credit = Credit(rate, max(1.0, rate))
        await paced(self.schedule, 0.05, credit, lambda now: chatters.spend(now, credit, 1, say))

    async def hearts(self) -> None:
        tappers = RoundRobin([s.index for s in self.ctx.viewers if s.flags & TAPPER], 1.0)
        if not tappers.members:
            return
        rate = self._rate(self.plan.behaviour.heart_rate)
        per = max(1, min(50, round(rate / len(tappers.members))))  # ~1 command a second

        def tap(i: int, turn: int) -> bool:
            if self.commands.send(i, "heart", {"cmd": "heart", "n": per}) is None:
                return False
            self.ctx.counts.count["heart_taps"] += per
            return True

        credit = Credit(rate, max(per, rate))
        await paced(self.schedule, 0.25, credit, lambda now: tappers.spend(now, credit, per, tap))

    async def explain(self) -> None:
        rate = self._rate(self.plan.behaviour.explain_rate)
        credit = Credit(rate, max(1.0, rate))

        def ask(now: float) -> None:
            while credit.covers(1) and self.ctx.conns:
                credit.spend(1)
                i = self.ctx.rng.choice(list(self.ctx.conns))
                product = self.ctx.rng.choice(self.plan.lineup)
                self.commands.send(i, "explain", {"cmd": "explain", "product_id": product})

        await paced(self.schedule, 0.5, credit, ask)
