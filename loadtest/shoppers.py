"""The client process of ``livecart loadtest``: a share of the viewers, on one uvloop.

The parent (``loadtest.runner``) starts one process per core with a
:class:`~loadtest.worker_plan.WorkerPlan` and a pipe. The process says ``ready``, gets
``go`` with the start time, and then, all from a few central loops rather than one task
per viewer:

- joins its viewers on their schedule (at most ``CONNECTS_IN_FLIGHT`` handshakes at a
  time), reconnects dropped ones with the protocol's backoff (bounded in count);
- chats, taps hearts and "explain this" at its share of the room's rates;
- presses "buy" for each buyer at its moment after the sale opens and drives every
  :class:`~loadtest.purchase.Purchase` (retries with the same key, pay or abandon);
- sends the parent a tick every second (cumulative counters, the second's latency
  histograms) and a final summary (``loadtest.worker_report``);
- stops at the end of the run, waits a bounded time for replies in flight, closes every
  socket and exits. Nothing here runs past ``end + settle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import signal
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from livecart.loadtest import worker_report
from livecart.loadtest.purchase import REPLY_TIMEOUT, STATE_EVENTS, Purchase, Send
from livecart.loadtest.scenarios import (
    BUYER,
    CHAT_GAP,
    CHATTER,
    PAYER,
    SAMPLE,
    TAPPER,
    ViewerSpec,
)
from livecart.loadtest.stats import Histogram
from livecart.loadtest.worker_plan import SalePlan, WorkerPlan
from livecart.loadtest.wsclient import VideoViewer, Viewer, ViewerStats, open_viewer, raise_fd_limit

# Handshakes in flight, across all client processes. Kept under a listen backlog of 128
# (aiohttp's default): past it the kernel drops SYNs and a joiner waits 1-7 s for the
# retransmission, which measures the backlog rather than the server. The join storm
# deliberately goes past it.
CONNECTS_IN_FLIGHT = 96
STORM_CONNECTS_IN_FLIGHT = 2000
MAX_RECONNECTS = 5
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


def worker_main(plan: WorkerPlan, conn: Any) -> None:
    """Process entry point. Ctrl-C is the parent's to handle: it tells us to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(_run(plan, conn))


async def _run(plan: WorkerPlan, conn: Any) -> None:
    await Worker(plan, conn).run()


class Worker:
    def __init__(self, plan: WorkerPlan, conn: Any) -> None:
        self.plan = plan
        self.conn = conn
        self.rng = random.Random(plan.seed * 1000 + plan.index)
        self.viewers = plan.viewers()
        self.specs = {s.index: s for s in self.viewers}
        self.conns: dict[int, Viewer] = {}
        self.everyone: list[Viewer] = []
        self.videos: list[VideoViewer] = []
        self.light = ViewerStats()
        self.sampled = ViewerStats()
        self.video_delays: list[float] = []
        self.join = Histogram()
        self.rejoin = Histogram()
        self.count: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.buy_events: Counter[str] = Counter()
        self.buy_ms: list[float] = []
        self.reply_times: list[float] = []
        self.reserved_times: list[float] = []
        self.pay_ms: list[float] = []
        self.buy_hist = Histogram()
        self.orders: list[str] = []
        self.ordered_units = 0
        self.inflight: dict[int, tuple[str, int]] = {}
        self.purchases: dict[int, Purchase] = {}
        self.purchase_cid: dict[int, int] = {}
        self.queued: set[int] = set()
        self.late: set[int] = set()
        self.seen: dict[int, int] = {}
        self.reconnects: Counter[int] = Counter()
        self.reconnecting: set[int] = set()
        self.ids = itertools.count(1)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.handles: list[asyncio.TimerHandle] = []
        total = STORM_CONNECTS_IN_FLIGHT if plan.behaviour.storm else CONNECTS_IN_FLIGHT
        self.gate = asyncio.Semaphore(max(8, round(total * plan.share)))
        self.stopping = False
        self.m0 = 0.0
        self.cpu0 = 0.0
        self.go: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.stopped = asyncio.Event()

    # -- plumbing ----------------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the start of the run."""
        return time.monotonic() - self.m0

    async def until(self, t: float) -> None:
        delay = self.m0 + t - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def later(self, delay: float, fn: Any, *args: Any) -> None:
        self.handles.append(asyncio.get_running_loop().call_later(delay, fn, *args))

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
            self.stopping = True
            self.stopped.set()
            if not self.go.done():
                self.go.cancel()
            # A closed pipe stays readable: stop listening to it.
            asyncio.get_running_loop().remove_reader(self.conn.fileno())

    # -- the run -----------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.conn.fileno(), self._on_pipe)
        self.conn.send({"kind": "ready", "w": self.plan.index})
        try:
            try:
                t0 = await asyncio.wait_for(self.go, 120)
            except (TimeoutError, asyncio.CancelledError):
                return
            self.m0 = time.monotonic() + (t0 - time.time())
            await self.until(0)
            self.cpu0 = time.process_time()
            tl = self.plan.timeline
            loops = [self._join_all(), self._ticks(), self._watch()]
            b = self.plan.behaviour
            if b.chat_rate:
                loops.append(self._chat())
            if b.heart_rate and b.tappers:
                loops.append(self._hearts())
            if b.explain_rate and self.plan.lineup:
                loops.append(self._explain())
            if self.plan.sale is not None:
                loops.append(self._sale(self.plan.sale))
            if tl.storm_at is not None:
                loops.append(self._storm(tl.storm_at))
            main = [loop.create_task(c) for c in loops]
            with contextlib.suppress(TimeoutError):  # the end, or the parent says stop
                await asyncio.wait_for(self.stopped.wait(), self.m0 + tl.end - time.monotonic())
            self.stopping = True
            await self._settle()
            for task in main:
                task.cancel()
            await asyncio.gather(*main, return_exceptions=True)
            self._final()
        finally:
            loop.remove_reader(self.conn.fileno())
            await self._close()

    async def _settle(self) -> None:
        """Let buys and commands in flight finish (bounded), then give up on the rest."""
        deadline = time.monotonic() + self.plan.settle
        while time.monotonic() < deadline:
            busy = any(not p.done for p in self.purchases.values() if p.presses)
            if not busy and not self.inflight:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the last tick's batch
        for p in self.purchases.values():
            if not p.done:
                p.give_up(self.now())
                self._record(p)
        self._tick()

    async def _close(self) -> None:
        for handle in self.handles:
            handle.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for v in self.everyone:
            v.close()
        for video in self.videos:
            video.close()
        await asyncio.sleep(0.2)

    # -- joining -----------------------------------------------------------------------

    async def _join_all(self) -> None:
        for spec in sorted(self.viewers, key=lambda s: s.join_at):
            if self.stopping:
                return
            await self.until(spec.join_at)
            self.spawn(self._connect(spec))

    def _path(self, spec: ViewerSpec, old: Viewer | None) -> str:
        query = {"name": f"viewer{spec.index}"}
        if old is not None and old.token:
            query["vid"] = old.token
            if spec.flags & SAMPLE and old.epoch and old.seq >= 0:
                query.update(since=str(old.seq), epoch=old.epoch)
        return f"/ws/{self.plan.room}?{urlencode(query)}"

    async def _connect(self, spec: ViewerSpec, rejoin: bool = False) -> None:
        old = self.conns.get(spec.index)
        sample = bool(spec.flags & SAMPLE)
        self.count["connect_attempts"] += 1
        async with self.gate:
            if self.stopping:
                return
            try:
                v = await open_viewer(
                    self.plan.host,
                    self.plan.port,
                    self._path(spec, old),
                    sample=sample,
                    fmt=self.plan.fmt,
                    stats=self.sampled if sample else self.light,
                    timeout=15.0,
                    on_reply=self._on_reply,
                    measure_all=True,
                )
            except (OSError, TimeoutError) as exc:
                self.count["connect_failed"] += 1
                self.errors["connect:" + type(exc).__name__] += 1
                return
        v.ident = spec.index
        v.measuring = sample
        self.conns[spec.index] = v
        self.everyone.append(v)
        join_ms = ((v.first_at or v.started) - v.started) * 1000
        (self.rejoin if rejoin or old is not None else self.join).add(join_ms)
        if old is not None and v.first is not None:
            self.count["resumed" if v.first.get("t") == "resume" else "fresh_snapshots"] += 1
        if spec.index in self.late:
            self.late.discard(spec.index)
            self._press(spec.index)
        if self.plan.behaviour.video and not rejoin and old is None:
            await self._open_video(sample)

    async def _open_video(self, sample: bool) -> None:
        loop = asyncio.get_running_loop()
        video: VideoViewer | None = None
        try:
            async with asyncio.timeout(15):
                _, video = await loop.create_connection(
                    lambda: VideoViewer(f"/ws/video/{self.plan.room}", sample, self.video_delays),
                    self.plan.host,
                    self.plan.port,
                )
                self.videos.append(video)
                await video.ready
        except (OSError, TimeoutError) as exc:
            self.errors["video:" + type(exc).__name__] += 1

    async def _watch(self) -> None:
        """Find connections the server dropped and reconnect them (backoff 0.5 s doubling
        to 10 s, with jitter; at most MAX_RECONNECTS per viewer)."""
        while not self.stopping:
            await asyncio.sleep(0.5)
            for i, v in list(self.conns.items()):
                if v.lost and not v.leaving and i not in self.reconnecting:
                    self.count["drops"] += 1
                    if self.reconnects[i] < MAX_RECONNECTS:
                        self.reconnecting.add(i)
                        self.spawn(self._reconnect(i))
                    else:
                        del self.conns[i]

    async def _reconnect(self, i: int) -> None:
        try:
            k = self.reconnects[i]
            self.reconnects[i] += 1
            await asyncio.sleep(min(10.0, 0.5 * 2**k) * self.rng.uniform(0.8, 1.2))
            if not self.stopping:
                self.count["reconnects"] += 1
                await self._connect(self.specs[i], rejoin=True)
        finally:
            self.reconnecting.discard(i)

    async def _storm(self, at: float) -> None:
        """Half the room leaves at once and comes straight back (fresh snapshots for the
        light viewers, resume for the samples)."""
        await self.until(at)
        wave = [i for i, v in sorted(self.conns.items()) if v.open][::2]
        for i in wave:
            self.conns[i].close()
        self.count["storm_wave"] += len(wave)
        for i in wave:
            self.spawn(self._connect(self.specs[i], rejoin=True))

    # -- commands ----------------------------------------------------------------------

    def _send(self, i: int, kind: str, command: dict[str, Any]) -> int | None:
        v = self.conns.get(i)
        if v is None or not v.open:
            return None
        cid = next(self.ids)
        if not v.send({"id": cid, **command}):
            return None
        self.inflight[cid] = (kind, i)
        self.count["commands"] += 1
        self.count[kind + "_sent"] += 1
        return cid

    def _on_reply(self, viewer: Viewer, frame: dict[str, Any]) -> None:
        entry = self.inflight.pop(frame.get("id"), None)  # type: ignore[arg-type]
        if entry is None:
            self.errors["reply:unknown"] += 1
            return
        kind, i = entry
        ok = bool(frame.get("ok"))
        code = "ok" if ok else str((frame.get("error") or {}).get("code", "?"))
        if kind in ("buy", "pay"):
            p = self.purchases.get(i)
            if p is None or self.purchase_cid.get(i) != frame.get("id"):
                self.count["stale_replies"] += 1
                return
            self.purchase_cid.pop(i, None)
            self._step(p, p.on_reply(frame, self.now()))
            return
        if ok:
            self.count[kind + "_ok"] += 1
        else:
            self.errors[f"{kind}:{code}"] += 1

    async def _chat(self) -> None:
        chatters = [s.index for s in self.viewers if s.flags & CHATTER]
        if not chatters:
            return
        rate = self.plan.behaviour.chat_rate * self.plan.share
        last: dict[int, float] = {}
        credit, rr, period = 0.0, 0, 0.05
        t = self.now()
        while not self.stopping:
            t += period
            await self.until(t)
            credit = min(credit + rate * period, max(1.0, rate))
            now = self.now()
            for _ in range(len(chatters)):
                if credit < 1:
                    break
                i = chatters[rr % len(chatters)]
                rr += 1
                if now - last.get(i, -10.0) < CHAT_GAP:
                    continue
                line = CHAT_LINES[rr % len(CHAT_LINES)]
                if self._send(i, "chat", {"cmd": "chat", "text": line}) is not None:
                    last[i] = now
                    credit -= 1

    async def _hearts(self) -> None:
        tappers = [s.index for s in self.viewers if s.flags & TAPPER]
        if not tappers:
            return
        rate = self.plan.behaviour.heart_rate * self.plan.share
        per = max(1, min(50, round(rate / len(tappers))))  # taps per command, ~1 a second
        last: dict[int, float] = {}
        credit, rr, period = 0.0, 0, 0.25
        t = self.now()
        while not self.stopping:
            t += period
            await self.until(t)
            credit = min(credit + rate * period, max(per, rate))
            now = self.now()
            for _ in range(len(tappers)):
                if credit < per:
                    break
                i = tappers[rr % len(tappers)]
                rr += 1
                if now - last.get(i, -10.0) < 1.0:
                    continue
                if self._send(i, "heart", {"cmd": "heart", "n": per}) is not None:
                    last[i] = now
                    credit -= per
                    self.count["heart_taps"] += per

    async def _explain(self) -> None:
        rate = self.plan.behaviour.explain_rate * self.plan.share
        credit, period = 0.0, 0.5
        t = self.now()
        while not self.stopping:
            t += period
            await self.until(t)
            credit = min(credit + rate * period, max(1.0, rate))
            while credit >= 1 and self.conns:
                credit -= 1
                i = self.rng.choice(list(self.conns))
                product = self.rng.choice(self.plan.lineup)
                self._send(i, "explain", {"cmd": "explain", "product_id": product})

    # -- the flash sale ----------------------------------------------------------------

    async def _sale(self, sale: SalePlan) -> None:
        buyers = sorted((s for s in self.viewers if s.flags & BUYER), key=lambda s: s.buy_at)
        for s in buyers:
            self.purchases[s.index] = Purchase(
                s.index, sale.product_id, bool(s.flags & PAYER), self.rng.uniform(*sale.think)
            )
        ticker = asyncio.get_running_loop().create_task(self._purchase_timeouts())
        try:
            for s in buyers:
                await self.until(sale.open_at + s.buy_at)
                if self.stopping:
                    break
                self._press(s.index)
            await asyncio.sleep(3600)  # cancelled at the end of the run
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    def _press(self, i: int) -> None:
        v = self.conns.get(i)
        if v is None or not v.open:
            self.late.add(i)  # presses as soon as it has joined
            return
        p = self.purchases[i]
        if p.state == "waiting":
            self._step(p, p.press(self.now()))

    def _step(self, p: Purchase, step: Send | None) -> None:
        self._record(p)
        if step is None:
            return
        self.queued.add(p.viewer)
        if step.delay > 0:
            self.later(step.delay, self._fire, p, step)
        else:
            self._fire(p, step)

    def _fire(self, p: Purchase, step: Send) -> None:
        self.queued.discard(p.viewer)
        now = self.now()
        if step.kind == "press":
            if not self.stopping:
                self._step(p, p.press(now))
            return
        assert step.command is not None
        p.sent_at = now
        cid = self._send(p.viewer, step.kind, step.command)
        if cid is not None:
            self.purchase_cid[p.viewer] = cid
        # Not sent (no connection): the time-out sends the same key again.

    async def _purchase_timeouts(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = self.now()
            for p in self.purchases.values():
                stale = now - p.sent_at > REPLY_TIMEOUT
                if p.waiting_reply and p.viewer not in self.queued and stale:
                    self.purchase_cid.pop(p.viewer, None)
                    self._step(p, p.on_timeout(now))

    def _record(self, p: Purchase) -> None:
        """Count the purchase's new outcomes (for the per-second plot) and times."""
        start = self.seen.get(p.viewer, 0)
        for _, what in p.history[start:]:
            if what in ("refused", "failed"):
                continue  # the reply code before it was counted
            self.buy_events[what] += 1
            if what not in STATE_EVENTS and p.reply_ms is not None:
                self.buy_ms.append(p.reply_ms)
                self.buy_hist.add(p.reply_ms)
                self.reply_times.append(self.now())
                if what == "reserved":
                    self.reserved_times.append(self.now())
            if what == "ordered" and p.order_id and p.pay_started is not None:
                self.orders.append(p.order_id)
                self.ordered_units += p.qty
                self.pay_ms.append((self.now() - p.pay_started) * 1000)
        self.seen[p.viewer] = len(p.history)

    # -- reporting ---------------------------------------------------------------------

    def _tick(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(worker_report.snapshot(self))

    async def _ticks(self) -> None:
        k = 1
        while True:
            await self.until(float(k))
            self._tick()
            k += 1

    def _final(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(worker_report.final(self))
