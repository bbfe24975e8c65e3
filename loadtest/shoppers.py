"""The client process of ``livecart loadtest``: a share of the viewers, on one uvloop.

The parent (``loadtest.runner``) starts one process per core with a
:class:`~loadtest.worker_plan.WorkerPlan` and a pipe. The process says ``ready``, gets
``go`` with the start time, and then, all from a few central loops rather than one task
per viewer:

- joins its viewers on their schedule, reconnects dropped ones with the protocol's
  backoff (bounded in count) and runs the join storm (``loadtest.crowd``);
- chats, taps hearts and "explain this" at its share of the room's rates
  (``loadtest.room_activity``);
- presses "buy" for each buyer at its moment after the sale opens and drives every
  :class:`~loadtest.purchase.Purchase` (``loadtest.buyers``);
- sends the parent a tick every second (cumulative counters, the second's latency
  histograms) and a final summary (``loadtest.worker_report``);
- stops at the end of the run, waits a bounded time for replies in flight, closes every
  socket and exits. Nothing here runs past ``end + settle``.

This module wires those parts together (they share one ``loadtest.schedule.Schedule``,
one ``WorkerCounts`` and the crowd's connections) and speaks to the parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from livecart.loadtest import worker_report
from livecart.loadtest.buyers import Buyers
from livecart.loadtest.client_context import ClientContext
from livecart.loadtest.client_pool import run_on_uvloop
from livecart.loadtest.commands import Commands
from livecart.loadtest.crowd import Crowd
from livecart.loadtest.room_activity import RoomActivity
from livecart.loadtest.schedule import Schedule
from livecart.loadtest.worker_counts import WorkerCounts
from livecart.loadtest.worker_plan import SalePlan, WorkerPlan
from livecart.loadtest.wsclient import Viewer


def worker_main(plan: WorkerPlan, conn: Any) -> None:
    """Process entry point. Ctrl-C is the parent's to handle: it tells us to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    run_on_uvloop(_run(plan, conn))


async def _run(plan: WorkerPlan, conn: Any) -> None:
    await Worker(plan, conn).run()


class Worker:
    """One client process: the parts below, wired together, and the pipe to the parent."""

    def __init__(self, plan: WorkerPlan, conn: Any) -> None:
        self.plan = plan
        self.conn = conn
        self.schedule = Schedule()
        self.counts = WorkerCounts()
        conns: dict[int, Viewer] = {}
        self.commands = Commands(conns, self.counts)
        self.ctx = ClientContext(
            plan=plan,
            viewers=plan.viewers(),
            schedule=self.schedule,
            counts=self.counts,
            conns=conns,
            commands=self.commands,
            rng=random.Random(plan.seed * 1000 + plan.index),
        )
        self.buyers = Buyers(self.ctx)
        self.commands.on_purchase_reply = self.buyers.on_reply
        self.crowd = Crowd(self.ctx, on_joined=self.buyers.joined)
        self.activity = RoomActivity(self.ctx)
        self.cpu0 = 0.0
        self.go: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.stopped = asyncio.Event()

    def _on_pipe(self) -> None:
        try:
            msg = self.conn.recv()
        except (EOFError, OSError):
            msg = {"kind": "stop"}
        if msg.get("kind") == "go" and not self.go.done():
            if msg.get("sale"):
                sale = SalePlan(msg["sale"]["product_id"], float(msg["sale"]["open_at"]))
                self.plan = replace(self.plan, sale=sale)
            self.go.set_result(float(msg["t0"]))
        elif msg.get("kind") == "stop":
            self.schedule.stopping = True
            self.stopped.set()
            if not self.go.done():
                self.go.cancel()
            # A closed pipe stays readable: stop listening to it.
            asyncio.get_running_loop().remove_reader(self.conn.fileno())

    # -- the run -----------------------------------------------------------------------

    async def run(self) -> None:
        """The process's whole life: say ``ready``, wait for ``go`` (the start time, the
        sale) for up to two minutes, run the crowd, buyers and room activity until the end
        or ``stop``, let replies settle, then send the final summary to the parent."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self.conn.fileno(), self._on_pipe)
        self.conn.send({"kind": "ready", "w": self.plan.index})
        try:
            try:
                t0 = await asyncio.wait_for(self.go, 120)
            except (TimeoutError, asyncio.CancelledError):
                return
            self.schedule.start_at(t0)
            await self.schedule.until(0)
            self.cpu0 = time.process_time()
            main = [loop.create_task(c) for c in self._loops()]
            with contextlib.suppress(TimeoutError):  # the end, or the parent says stop
                await asyncio.wait_for(self.stopped.wait(), self._left())
            self.schedule.stopping = True
            await self._settle()
            for task in main:
                task.cancel()
            await asyncio.gather(*main, return_exceptions=True)
            self._send(worker_report.final(self._state()))
        finally:
            loop.remove_reader(self.conn.fileno())
            await self._close()

    def _left(self) -> float:
        """Seconds until the end of the run."""
        return self.plan.timeline.end - self.schedule.now()

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        """The central loops of this run, all cancelled at its end."""
        b, crowd, activity = self.plan.behaviour, self.crowd, self.activity
        loops = [crowd.join_all(), self._ticks(), crowd.watch()]
        if b.chat_rate:
            loops.append(activity.chat())
        if b.heart_rate and b.tappers:
            loops.append(activity.hearts())
        if b.explain_rate and self.plan.lineup:
            loops.append(activity.explain())
        if self.plan.sale is not None:
            loops.append(self.buyers.run(self.plan.sale))
        if self.plan.timeline.storm_at is not None:
            loops.append(crowd.storm(self.plan.timeline.storm_at))
        return loops

    async def _settle(self) -> None:
        """Let buys and commands in flight finish (bounded), then give up on the rest."""
        deadline = time.monotonic() + self.plan.settle
        while time.monotonic() < deadline:
            if not self.buyers.busy() and not self.commands.inflight:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the last tick's batch
        self.buyers.give_up()
        self._tick()

    async def _close(self) -> None:
        await self.schedule.close()
        self.crowd.close()
        await asyncio.sleep(0.2)

    # -- reporting ---------------------------------------------------------------------

    def _state(self) -> worker_report.WorkerState:
        return worker_report.WorkerState(
            index=self.plan.index,
            t=self.schedule.now(),
            cpu=time.process_time() - self.cpu0,
            everyone=self.crowd.everyone,
            open=self.crowd.open(),
            videos=self.crowd.videos,
            purchases=list(self.buyers.purchases.values()),
            unreplied=len(self.commands.inflight),
            counts=self.counts,
            sales=self.buyers.figures,
        )

    def _send(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(msg)

    def _tick(self) -> None:
        self._send(worker_report.snapshot(self._state()))

    async def _ticks(self) -> None:
        k = 1
        while True:
            await self.schedule.until(float(k))
            self._tick()
            k += 1
