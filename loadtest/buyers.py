"""The buyers of one ``livecart loadtest`` client process in the flash sale.

Each buyer presses "buy" at its moment after the sale opens (or as soon as it has
joined, if it had not yet), and its :class:`~loadtest.purchase.Purchase` decides what
comes next: the same key again after a refusal or a time-out, "pay" after the think
time, or nothing. This module only carries the steps out: it sends the commands
(``loadtest.commands``), matches their replies, times the waits and counts the
outcomes (``SaleFigures``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from livecart.loadtest.client_context import ClientContext
from livecart.loadtest.purchase import REPLY_TIMEOUT, Purchase, Send
from livecart.loadtest.scenarios import BUYER, PAYER
from livecart.loadtest.worker_counts import SaleFigures
from livecart.loadtest.worker_plan import SalePlan


class Buyers:
    """The flash-sale buyers of one client process: one ``Purchase`` per buyer, the command
    each waits on, the steps due on a timer, and the outcomes counted in ``figures``."""

    def __init__(self, ctx: ClientContext) -> None:
        self.ctx = ctx
        self.schedule = ctx.schedule
        self.figures = SaleFigures()
        self.purchases: dict[int, Purchase] = {}
        self._cid: dict[int, int] = {}  # viewer -> the command its purchase waits on
        self._queued: set[int] = set()  # viewers with a step on a timer
        self._late: set[int] = set()  # viewers whose moment came before they joined

    async def run(self, sale: SalePlan) -> None:
        """Press buy for each buyer at its moment; drive the purchases until cancelled."""
        buyers = sorted((s for s in self.ctx.viewers if s.flags & BUYER), key=lambda s: s.buy_at)
        for s in buyers:
            self.purchases[s.index] = Purchase(
                s.index, sale.product_id, bool(s.flags & PAYER), self.ctx.rng.uniform(*sale.think)
            )
        ticker = asyncio.get_running_loop().create_task(self._timeouts())
        try:
            for s in buyers:
                await self.schedule.until(sale.open_at + s.buy_at)
                if self.schedule.stopping:
                    break
                self.press(s.index)
            await asyncio.sleep(3600)  # cancelled at the end of the run
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    def joined(self, i: int) -> None:
        """Viewer ``i`` has (re)joined: press now if its moment has passed."""
        if i in self._late:
            self._late.discard(i)
            self.press(i)

    def press(self, i: int) -> None:
        """Viewer ``i`` presses "buy" now: sent when its connection is open and its purchase
        is still waiting; otherwise remembered and pressed once it has joined
        (``joined``)."""
        v = self.ctx.conns.get(i)
        if v is None or not v.open:
            self._late.add(i)  # presses as soon as it has joined
            return
        p = self.purchases[i]
        if p.state == "waiting":
            self._step(p, p.press(self.schedule.now()))

    def on_reply(self, i: int, cid: int, frame: dict[str, Any]) -> None:
        """A reply to viewer ``i``'s buy or pay command ``cid``."""
        p = self.purchases.get(i)
        if p is None or self._cid.get(i) != cid:
            self.ctx.counts.count["stale_replies"] += 1
            return
        self._cid.pop(i, None)
        self._step(p, p.on_reply(frame, self.schedule.now()))

    def busy(self) -> bool:
        """Whether a pressed purchase has not come to its end yet."""
        return any(not p.done for p in self.purchases.values() if p.presses)

    def give_up(self) -> None:
        """The run is over: every purchase not done ends as it stands."""
        for p in self.purchases.values():
            if not p.done:
                p.give_up(self.schedule.now())
                self._record(p)

    def _record(self, p: Purchase) -> None:
        self.figures.record(p, self.schedule.now())

    def _step(self, p: Purchase, step: Send | None) -> None:
        self._record(p)
        if step is None:
            return
        self._queued.add(p.viewer)
        if step.delay > 0:
            self.schedule.later(step.delay, self._fire, p, step)
        else:
            self._fire(p, step)

    def _fire(self, p: Purchase, step: Send) -> None:
        self._queued.discard(p.viewer)
        now = self.schedule.now()
        if step.kind == "press":
            if not self.schedule.stopping:
                self._step(p, p.press(now))
            return
        assert step.command is not None
        p.sent_at = now
        cid = self.ctx.commands.send(p.viewer, step.kind, step.command)
        if cid is not None:
            self._cid[p.viewer] = cid
        # Not sent (no connection): the time-out sends the same key again.

    async def _timeouts(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = self.schedule.now()
            for p in self.purchases.values():
                stale = now - p.sent_at > REPLY_TIMEOUT
                if p.waiting_reply and p.viewer not in self._queued and stale:
                    self._cid.pop(p.viewer, None)
                    self._step(p, p.on_timeout(now))
