"""``livecart loadtest --scenario auction``: a live auction under a bidding storm.

The parent prepares the show through the HTTP API (the room, one product with one unit),
starts one client process per core (``--procs``) that connects its share of
``--viewers`` light viewers, then starts the auction (``--duration`` seconds, at least
5; counter-bid time ``--counter``) and tells the processes when the storm starts: the
auction's last ``--storm`` seconds by its first end, read from the ``ends_at`` and
``server_now`` of the server's reply (Redis' clock), so the client's own clock is never
compared with the server's. ``--bidders`` viewers each send one max bid (with the
sandbox's approved card) in the storm, as ``loadtest.auction_plan`` lays out; every
bid's reply time is measured from its send.

Then it waits for the auction to end and be paid, reads the orders, and reports: bids
sent, accepted and refused (by code), accepted bids per second over the storm, the bid
reply p50/p99, the counter-bid resets, and the final price and winner checked against
the bids it sent (``auction_plan.verdict``): PASS or FAIL on "one winner, right price",
exit code 0 or 1. ``--slo 'bid_p99<250ms'`` adds a latency objective to the verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livecart.auction_versions import newer_auction
from livecart.checkout.sandbox import APPROVE_CARD
from livecart.loadtest import (
    auction_checks,
    auction_html,
    auction_plan,
    report,
    server_caps,
    server_stages,
    summary,
)
from livecart.loadtest.client_pool import PipedProcesses, run_on_uvloop, share, timer_lateness
from livecart.loadtest.show import SetupError, prepare_room, token_of
from livecart.loadtest.stats import exact_percentile
from livecart.loadtest.target import Target
from livecart.loadtest.wsclient import (
    MSGPACK,
    HandshakeRefused,
    Viewer,
    ViewerStats,
    connect,
    open_viewer,
)

START_PRICE = 1000
JOINS_AT_ONCE = 100  # handshakes in flight per client process
STOCK_EVERY = 0.5  # seconds between the stock readings while the bids are out
SERVER_STAGES = ("read_to_stamp", "emit_round_trip", "flush", "tick_late", "tick")
"""The server's stages the report gives over the auction (``loadtest.server_stages``)."""


@dataclass(frozen=True, slots=True)
class StormPlan:
    """One client process's part: its viewers (by index) and their bids."""

    index: int
    host: str
    port: int
    room: str
    viewers: tuple[int, ...]
    bids: tuple[auction_plan.BidPlan, ...]
    seed: int
    settle: float
    watch: bool = False  # this process also runs the watching viewer


class AuctionWatcher(Viewer):
    """A sample viewer that keeps the auction object of every ``auction`` event it
    applies (past its position, in ``seq`` order): the evidence for "closes exactly
    once"."""

    def __init__(self, path: str, stats: ViewerStats) -> None:
        super().__init__(path, True, MSGPACK, stats)
        self.auctions: list[dict[str, Any]] = []
        self.overtaken = 0  # events older than the auction held (docs/protocol.md)

    def _events(self, events: list[dict[str, Any]], skipped: bool) -> None:
        position = self.seq
        for event in events:
            if event["seq"] > position:
                position = event["seq"]
                auction = event.get("auction")
                if event.get("type") == "auction" and isinstance(auction, dict):
                    held = self.auctions[-1] if self.auctions else None
                    if newer_auction(held, auction):
                        self.auctions.append(auction)
                    else:
                        self.overtaken += 1
        super()._events(events, skipped)


def worker_main(plan: StormPlan, conn: Any) -> None:
    run_on_uvloop(_worker(plan, conn))


async def _recv(conn: Any) -> dict[str, Any]:
    msg: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    return msg


async def _worker(plan: StormPlan, conn: Any) -> None:
    loop = asyncio.get_running_loop()
    stats = ViewerStats()
    conns: dict[int, Viewer] = {}
    inflight: dict[int, tuple[int, int, float]] = {}  # command id -> viewer, max, sent at
    results: list[auction_plan.BidResult] = []
    vids: dict[int, str] = {}
    done = asyncio.Event()
    joins = asyncio.Semaphore(JOINS_AT_ONCE)

    def on_reply(v: Viewer, frame: dict[str, Any]) -> None:
        entry = inflight.pop(frame.get("id", -1), None)
        if entry is None:
            return
        i, amount, sent = entry
        ms = (time.monotonic() - sent) * 1000
        code = "" if frame.get("ok") else str((frame.get("error") or {}).get("code", "?"))
        results.append(auction_plan.BidResult(vids.get(i, ""), amount, not code, code, ms))
        if not inflight and len(results) + failed_sends[0] >= len(plan.bids):
            done.set()

    async def join(i: int) -> None:
        async with joins:
            v = await open_viewer(
                plan.host, plan.port, f"/ws/{plan.room}?name=Bidder{i}", sample=False,
                fmt=MSGPACK, stats=stats, on_reply=on_reply, timeout=30.0,
            )  # fmt: skip
        conns[i] = v
        vids[i] = str(((v.first or {}).get("you") or {}).get("vid", ""))

    joined = await asyncio.gather(*(join(i) for i in plan.viewers), return_exceptions=True)
    why = Counter(
        f"connect:http_{x.status}" if isinstance(x, HandshakeRefused) else
        f"connect:{type(x).__name__}"
        for x in joined if isinstance(x, BaseException)
    )  # fmt: skip
    watcher: AuctionWatcher | None = None
    if plan.watch:
        path = f"/ws/{plan.room}?name=Watcher"
        watcher = await connect(plan.host, plan.port, lambda: AuctionWatcher(path, ViewerStats()),
                                30.0, lambda v: v.got_first)  # fmt: skip
    conn.send({"kind": "ready", "joined": len(conns), "failed": len(joined) - len(conns),
               "why": dict(why)})  # fmt: skip
    go = await _recv(conn)
    if go.get("kind") != "go":
        return
    failed_sends = [0]
    ids = iter(range(1, 1 << 30))
    aid, storm_in = str(go["auction_id"]), float(go["storm_in"]) - (time.time() - go["sent"])
    ids_key = f"bid-lt{plan.seed}"

    def send(b: auction_plan.BidPlan) -> None:
        v = conns.get(b.viewer)
        cid = next(ids)
        cmd = {"id": cid, "cmd": "bid", "auction_id": aid, "max": b.max,
               "key": f"{ids_key}-{b.viewer}", "card": APPROVE_CARD}  # fmt: skip
        inflight[cid] = (b.viewer, b.max, time.monotonic())
        if v is None or not v.send(cmd):
            inflight.pop(cid, None)
            failed_sends[0] += 1

    for b in plan.bids:
        loop.call_later(max(0.0, storm_in + b.at), send, b)
    if not plan.bids:
        done.set()
    late: list[float] = []
    timer = loop.create_task(timer_lateness(late, max(0.0, storm_in)))
    last = storm_in + (plan.bids[-1].at if plan.bids else 0.0)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=max(0.0, last) + plan.settle)
    timer.cancel()
    conn.send({
        "kind": "final",
        "results": [(r.vid, r.max, r.accepted, r.code, r.ms) for r in results],
        "unsent": failed_sends[0],
        "closed": stats.closed,
        "late_ms": late,
    })  # fmt: skip
    await _recv(conn)  # stay connected (and watching) until the parent has the result
    if watcher is not None:
        conn.send({"kind": "watched", "auctions": watcher.auctions, "gaps": watcher.stats.gaps,
                   "overtaken": watcher.overtaken})  # fmt: skip
        watcher.close()
    for v in conns.values():
        v.close()


def _host(target: Target, room: str, token: str, cmd: dict[str, Any]) -> dict[str, Any]:
    reply = target.post(target.room_path(room, "/commands"), cmd, token)
    return dict(reply["data"])


def _final_auction(target: Target, room: str, wait: float) -> dict[str, Any] | None:
    """The room's auction once it is over and paid (or past ``wait`` seconds, the last
    seen)."""
    deadline = time.monotonic() + wait
    seen: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        seen = target.get(target.room_path(room)).get("auction")
        if seen is not None and seen.get("state") not in ("running", "won"):
            return seen
        time.sleep(0.2)
    return seen


def _stock(target: Target, room: str, token: str, product: dict[str, Any]) -> dict[str, int]:
    """The product's stock levels (``/figures``); ``{}`` when the read failed."""
    try:
        level = target.get(target.room_path(room, "/figures"), token)["stock"][product["id"]]
    except (OSError, KeyError, ValueError, TypeError):
        return {}
    return {k: int(v) for k, v in level.items()}


def _await_finals(
    pool: PipedProcesses, wait: float, every: Callable[[], None], period: float = STOCK_EVERY
) -> list[dict[str, Any]]:
    """Each process's final message (within ``wait`` seconds), calling ``every()`` about
    every ``period`` seconds meanwhile (the stock readings during the storm)."""
    finals: list[dict[str, Any]] = []
    waiting = list(pool.pipes)
    deadline = time.monotonic() + wait
    while waiting and time.monotonic() < deadline:
        every()
        until = time.monotonic() + period
        for p in list(waiting):
            if p.poll(max(0.0, until - time.monotonic())):
                finals.append(p.recv())
                waiting.remove(p)
    return finals


def run(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    """Run the auction load test; the report and the exit code (0 pass, 1 fail)."""
    target = Target.parse(args.url, allow_remote=args.allow_remote)
    prepare_room(target, args)
    token = token_of(args)
    if not token:
        raise SetupError("the auction scenario needs --host-token or --admin-token")
    duration = max(5, int(args.duration))
    storm = min(float(args.storm), duration - 1.0)
    bidders = min(args.viewers, args.bidders if args.bidders is not None else args.viewers // 5)
    product = _host(target, args.room, token, {
        "cmd": "add_product", "name": "Auction lot", "price": START_PRICE,
        "currency": args.currency, "stock": 1,
    })["product"]  # fmt: skip
    bids = auction_plan.plan_bids(args.viewers, bidders, storm, START_PRICE, args.seed)
    procs = max(1, args.procs or 2)
    by_viewer = {b.viewer: b for b in bids}
    plans = []
    for k in range(procs):
        lo = sum(share(args.viewers, procs, j) for j in range(k))
        mine = tuple(range(lo, lo + share(args.viewers, procs, k)))
        own = tuple(sorted((by_viewer[i] for i in mine if i in by_viewer), key=lambda b: b.at))
        plans.append(StormPlan(k, target.host, target.port, args.room, mine, own, args.seed,
                               args.settle, watch=k == 0))  # fmt: skip
    pool = PipedProcesses()
    try:
        for plan in plans:
            pool.start(worker_main, plan)
        joined = failed = 0
        join_errors: Counter[str] = Counter()
        for p in pool.pipes:
            if not p.poll(60 + args.viewers / 50):
                raise SetupError("the client processes did not connect their viewers in time")
            msg = p.recv()
            joined, failed = joined + msg["joined"], failed + msg["failed"]
            join_errors.update(msg.get("why") or {})
        if not args.quiet:
            print(f"auction: {joined}/{args.viewers} viewers joined, {bidders} bidders", flush=True)
            for counter in join_errors:
                line = server_caps.first_sight(counter)
                if line:
                    print(line, flush=True)
        started_unix = time.time()
        started = _host(target, args.room, token, {
            "cmd": "start_auction", "product_id": product["id"], "start_price": START_PRICE,
            "duration": duration, "counter_seconds": args.counter,
            "increments": [list(r) for r in auction_plan.INCREMENTS],
            "key": "lt-start-" + secrets.token_hex(4),
        })["auction"]  # fmt: skip
        stages0 = server_stages.scrape(target.base) if target.host == "127.0.0.1" else None
        left = (started["ends_at"] - started["server_now"]) / 1000
        pool.send({"kind": "go", "auction_id": started["id"], "storm_in": left - storm,
                   "sent": time.time()})  # fmt: skip
        levels: list[dict[str, int]] = []
        finals = _await_finals(
            pool,
            left + args.settle + 30,
            lambda: levels.append(_stock(target, args.room, token, product)),
        )
        final = _final_auction(target, args.room, args.settle + 15)
        # every worker's /metrics snapshot is at most about a second old
        stages = server_stages.window(stages0, server_stages.scrape(target.base)) if stages0 else {}
        orders = target.get(target.room_path(args.room, "/orders.json"), token)["orders"]
        end_stock = _stock(target, args.room, token, product)
        pool.tell({"kind": "stop"})
        watched = pool.pipes[0].recv() if pool.pipes[0].poll(10) else {"auctions": []}
    finally:
        pool.close(10)
    results = [auction_plan.BidResult(*r) for f in finals for r in f["results"]]
    judged = auction_plan.verdict(results, len(bids), START_PRICE, final, orders)
    checks = [
        auction_checks.closes_once(
            watched.get("auctions") or [], started["id"], int(watched.get("overtaken") or 0)
        ),
        auction_checks.winner_charged(final, orders),
        auction_checks.stock_invariant([lv for lv in levels if lv], end_stock or None),
    ]
    rep = summary.auction_report(
        args, joined, failed, bids, results, judged, final, orders, storm,
        sum(f["unsent"] for f in finals), Counter(r.code for r in results if r.code), checks,
        join_errors,
    )  # fmt: skip
    rep["stock_readings"] = len(levels)
    rep["auction_started_unix"] = started_unix
    late = [x for f in finals for x in f.get("late_ms", [])]
    rep["client_timer_ms"] = {
        "p50": exact_percentile(late, 0.5), "p99": exact_percentile(late, 0.99),
    }  # fmt: skip
    rep["server_stages"] = {
        name: {"count": f.count, "p50_ms": f.p50_ms, "p99_ms": f.p99_ms}
        for name, f in stages.items() if name in SERVER_STAGES
    }  # fmt: skip
    code = 0 if rep["pass"] else 1
    for slo in args.slo:
        name, _, bound = slo.partition("<")
        if name.strip() == "bid_p99" and bound.strip().endswith("ms"):
            ok = (rep["bid_ms"]["p99"] or 0) < float(bound.strip()[:-2])
            rep["slos"].append({"objective": slo, "met": ok})
            code = code if ok else 1
    return rep, code


def main(args: argparse.Namespace) -> int:
    return run_and_print(args)[1]


def run_and_print(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    rep, code = run(args)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(rep, indent=2))
        (out / "report.html").write_text(auction_html.render_html(rep), encoding="utf-8")
    print(report.auction_text(rep))
    return rep, code
