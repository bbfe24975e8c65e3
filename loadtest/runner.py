"""``livecart loadtest``: simulated shoppers against one running server, and the report.

The parent process prepares the show through the HTTP API (the room, products for
"explain this", the flash sale: add a product, pin it, open the sale with a short
countdown), starts one client process per core (``loadtest.client_processes``), prints
a progress line every second, then reads the server's counters and books, checks the
``--slo`` objectives and writes ``report.json`` and ``report.html``. ``run`` reads as
those steps: ``prepare``, ``_drive`` (start, go, collect), ``_check_books``,
``build_report`` and ``_judge``.

It never loads anything but ``--url`` (loopback only unless ``--allow-remote``), and
it stops by itself: the clients end at ``ramp + duration`` plus a bounded settle time,
and the parent stops waiting for them shortly after that.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from livecart.loadtest import books, report
from livecart.loadtest.aggregate import Aggregate
from livecart.loadtest.client_processes import ClientProcesses
from livecart.loadtest.scenarios import (
    SCENARIOS,
    Behaviour,
    Timeline,
    behaviour,
    offered,
    sample_count,
    seconds,
    timeline,
)
from livecart.loadtest.server_caps import first_sight
from livecart.loadtest.server_counters import server_counters
from livecart.loadtest.show import (
    Publisher,
    SetupError,
    add_products,
    open_sale,
    prepare_room,
    rss_of,
    server_processes,
    token_of,
)
from livecart.loadtest.slo import Slo, verdicts
from livecart.loadtest.summary import build_report, buyer_figures
from livecart.loadtest.target import ApiError, Target, TargetRefused
from livecart.loadtest.verdict import judge
from livecart.loadtest.worker_plan import WorkerPlan
from livecart.loadtest.wsclient import JSON, MSGPACK, raise_fd_limit


def _fmt_k(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x / 1000:.1f}k" if x >= 10_000 else f"{x:.0f}"


def progress_line(row: dict[str, Any], viewers: int, buys: dict[str, int]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}ms"

    buy = ""
    if buys.get("pressed"):
        buy = f"  buys {buys.get('reserved', 0)} held/{buys['pressed']} pressed"
        buy += f" {buys.get('ordered', 0)} paid"
    server = f" | server {row['server_cpu']:.0f}%" if "server_cpu" in row else ""
    cpu = " ".join(f"{c:.0f}%" for c in row["cpu"])
    return (
        f"[{row['t']:4d}s] connected {row['connected']}/{viewers}  msgs {row['msgs']:.0f}/s  "
        f"deliveries {_fmt_k(row['deliveries'])}/s  frames {_fmt_k(row['frames'])}/s  "
        f"p50 {ms(row['p50'])} p99 {ms(row['p99'])}  errors {row['errors']}{buy}  "
        f"cpu {cpu}{server}"
    )


def _metrics(target: Target, admin_token: str | None) -> dict[str, Any] | None:
    """The server's counters (``loadtest.server_counters``), or None if unreadable.

    ``/metrics`` answers loopback clients, and anyone else with the admin token."""
    try:
        return dict(server_counters(target.text("/metrics", token=admin_token)))
    except (ApiError, OSError, ValueError):
        return None


@dataclass
class Setup:
    """What preparing the run decided: the show is ready on the server."""

    target: Target
    slos: list[Slo]
    behaviour: Behaviour
    timeline: Timeline
    token: str | None  # the host's or admin's, for the sale and the books
    lineup: list[str]
    samples: int
    procs: int
    notes: list[str]  # for the report: what this run left out, and why


@dataclass
class Start:
    """How the run started: its time, the sale it opened, the figures before it."""

    t0: float  # wall-clock time of the start, shared by every client
    sale: dict[str, Any] | None
    books_before: dict[str, Any] | None
    metrics_before: dict[str, Any] | None


def _check(args: argparse.Namespace) -> None:
    if args.viewers < 1 or args.duration <= 0:
        raise SetupError("--viewers must be at least 1 and --duration above 0")
    for name in ("buyers", "pay"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 1:
            raise SetupError(f"--{name} is a share between 0 and 1")


def _with_sale(
    args: argparse.Namespace, b: Behaviour, token: str | None, notes: list[str]
) -> Behaviour:
    """The behaviour, without its sale if there is no token to open one."""
    if not b.sale or token:
        return b
    if args.scenario == "flash-sale":
        raise SetupError("the flash-sale scenario needs --host-token or --admin-token")
    notes.append("no --host-token or --admin-token: no flash sale in this run")
    return replace(b, sale=False)


def _lineup(
    target: Target,
    args: argparse.Namespace,
    b: Behaviour,
    token: str | None,
    snap: dict[str, Any],
    notes: list[str],
) -> list[str]:
    """The products to ask about: the room's, or three added if it has none."""
    lineup = list(snap.get("lineup") or [])
    if b.explain_rate and not lineup:
        if token:
            lineup = add_products(target, args.room, token, 3)
        else:
            notes.append("the lineup is empty and no token was given: no 'explain this' taps")
    return lineup


def prepare(args: argparse.Namespace) -> Setup:
    """Check the arguments and the server, and prepare the room for the run."""
    target = Target.parse(args.url, allow_remote=args.allow_remote)
    slos = [Slo.parse(s) for s in args.slo or []]
    _check(args)
    asked: Behaviour = behaviour(
        args.scenario,
        chat_rate=args.chat_rate,
        heart_rate=args.heart_rate,
        explain_rate=args.explain_rate,
        buyers=args.buyers,
        pay=args.pay,
    )
    b, notes = offered(asked, args.viewers)
    ramp = seconds(args.ramp) if args.ramp is not None else min(b.ramp, args.duration / 3)
    try:
        target.get("/healthz")
    except ApiError as exc:
        raise SetupError(f"the server is not healthy: {exc}") from None
    snap = prepare_room(target, args)
    token = token_of(args)
    b = _with_sale(args, b, token, notes)
    lineup = _lineup(target, args, b, token, snap, notes)
    tl: Timeline = timeline(b, ramp, args.duration)
    samples = sample_count(args.viewers, args.sample)
    procs = max(1, min(args.procs or os.cpu_count() or 1, args.viewers))
    raise_fd_limit()
    return Setup(target, slos, b, tl, token, lineup, samples, procs, notes)


def _plans(setup: Setup, args: argparse.Namespace) -> list[WorkerPlan]:
    """One plan per client process (the sale comes with "go", once it is open)."""
    return [
        WorkerPlan(
            index=k,
            host=setup.target.host,
            port=setup.target.port,
            room=args.room,
            fmt=JSON if args.format == "json" else MSGPACK,
            procs=setup.procs,
            viewers_total=args.viewers,
            samples=setup.samples,
            behaviour=setup.behaviour,
            share=1 / setup.procs,
            timeline=setup.timeline,
            lineup=setup.lineup,
            sale=None,
            settle=args.settle,
            seed=args.seed,
        )
        for k in range(setup.procs)
    ]


def _go(setup: Setup, args: argparse.Namespace, clients: ClientProcesses) -> Start:
    """Every client is up: fix the start, then open the sale with its countdown
    relative to it (the clients learn the product and the time with "go")."""
    tl, token = setup.timeline, setup.token
    t0 = time.time() + 0.5
    sale: dict[str, Any] | None = None
    books_before: dict[str, Any] | None = None
    if setup.behaviour.sale and token and tl.sale_open is not None:
        sale = open_sale(setup.target, args, token, int((t0 + tl.sale_open) * 1000))
        books_before = books.read(setup.target, args.room, token)
    metrics_before = _metrics(setup.target, args.admin_token)
    t0 = max(t0, time.time() + 0.2)  # preparing may have taken a moment
    go: dict[str, Any] = {"kind": "go", "t0": t0}
    if sale is not None:
        opens_at = sale.get("opens_at")
        open_rel = max(0.0, opens_at / 1000 - t0) if opens_at else tl.sale_open or 0.0
        sale["open_at"] = round(open_rel, 3)
        go["sale"] = {"product_id": sale["product_id"], "open_at": open_rel}
    clients.send(go)
    return Start(t0, sale, books_before, metrics_before)


def _progress(args: argparse.Namespace, agg: Aggregate) -> Callable[[int], None]:
    """What to do with each second all clients have reported: print its line, and the
    moment a per-address cap of the server first refuses something, say so
    (``loadtest.server_caps``; even with ``--quiet``: the run will fail)."""
    warned: set[str] = set()

    def show(sec: int) -> None:
        totals = agg.totals()
        for counter in [*totals["errors"], *totals["buys"]]:
            line = first_sight(counter) if counter not in warned else None
            if line is not None:
                warned.add(counter)
                print(line, flush=True)
        if getattr(args, "quiet", False):
            return
        row = agg.row(sec)
        buys = {"pressed": totals["keys"], **totals["buys"]}
        print(progress_line(row, args.viewers, buys), flush=True)

    return show


def _announce(setup: Setup, args: argparse.Namespace) -> None:
    if not getattr(args, "quiet", False):
        tl = setup.timeline
        print(
            f"livecart loadtest: {args.viewers} viewers, scenario {args.scenario}, "
            f"{setup.procs} client process(es), ramp {tl.ramp:.0f}s, duration "
            f"{tl.duration:.0f}s -> {setup.target.base} room {args.room}",
            flush=True,
        )
        for note in setup.notes:
            print(f"note: {note}", flush=True)


def _drive(
    setup: Setup,
    args: argparse.Namespace,
    clients: ClientProcesses,
    agg: Aggregate,
    server: list[Any],
) -> tuple[Start, list[dict[str, Any]]]:
    """Start the clients (and the video publisher), run, and collect their figures."""
    tl = setup.timeline
    publisher: Publisher | None = None
    try:
        clients.start_all(_plans(setup, args))
        if args.publish:
            publisher = Publisher(clients.ctx, setup.target, args, tl.end + args.settle + 60)
            setup.notes.append(publisher.wait_live())
        clients.wait_ready(60)
        start = _go(setup, args, clients)
        _announce(setup, args)
        hard_end = time.monotonic() + (start.t0 - time.time()) + tl.end + args.settle + 30
        finals, finished = clients.collect(agg, hard_end, server, _progress(args, agg))
        if not finished:
            setup.notes.append("a client process did not finish in time and was stopped")
        return start, finals
    except KeyboardInterrupt:
        clients.stop()
        raise
    finally:
        clients.close(5)
        if publisher is not None:
            publisher.stop()


def _check_books(
    setup: Setup,
    args: argparse.Namespace,
    start: Start,
    finals: list[dict[str, Any]],
    agg: Aggregate,
) -> dict[str, Any] | None:
    """After a sale: do the shop's books agree with what the buyers saw?"""
    token = setup.token
    if start.sale is None or start.books_before is None or not token:
        return None
    buyers = buyer_figures(finals, agg)
    try:
        after = books.read(setup.target, args.room, token)
    except (ApiError, OSError, ValueError) as exc:
        after = {"audit": {"ok": False, "problems": [f"could not read the books: {exc}"]}}
    return books.check(start.books_before, after, buyers, start.sale)


def _judge(rep: dict[str, Any], slos: list[Slo], books_result: dict[str, Any] | None) -> int:
    """Add the verdict (``loadtest.verdict``: the plan's rows, the objectives, the
    books, the server's per-address caps) to the report; the exit code (0 pass, 1 fail)."""
    rep["slo"] = verdicts(slos, rep["summary"])
    judged = judge(rep["summary"], rep["slo"], books_result)
    rep.update(judged)
    return 1 if judged["failed"] else 0


def run(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    """Run the load test; return the report and the exit code (0 pass, 1 fail)."""
    setup = prepare(args)
    server = server_processes(setup.target)
    rss0 = rss_of(server)
    agg = Aggregate(setup.procs)
    started = time.time()
    start, finals = _drive(setup, args, ClientProcesses(), agg, server)
    rss1 = rss_of(server)
    time.sleep(0.3)
    metrics_after = _metrics(setup.target, args.admin_token)
    books_result = _check_books(setup, args, start, finals, agg)
    rep = build_report(
        args,
        setup.behaviour,
        setup.timeline,
        setup.samples,
        setup.procs,
        agg,
        finals,
        start.sale,
        books_result,
        start.metrics_before,
        metrics_after,
        server,
        rss0,
        rss1,
        setup.notes,
        started,
    )
    return rep, _judge(rep, setup.slos, books_result)


def print_summary(rep: dict[str, Any], paths: list[Path]) -> None:
    print(report.text_summary(rep))
    for path in paths:
        print(f"report: {path}")


def main(args: argparse.Namespace) -> int:
    try:
        if args.scenario == "auction":
            from livecart.loadtest import auction_storm

            return auction_storm.main(args)
        rep, code = run(args)
    except KeyboardInterrupt:
        print("livecart loadtest: interrupted; the clients were told to stop", file=sys.stderr)
        return 130
    except (TargetRefused, SetupError, ValueError) as exc:
        print(f"livecart loadtest: {exc}", file=sys.stderr)
        return 2
    except (ApiError, OSError) as exc:
        print(f"livecart loadtest: the server did not answer as expected: {exc}", file=sys.stderr)
        return 2
    paths = report.write(Path(args.out), rep) if args.out else []
    print_summary(rep, paths)
    return code


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "loadtest",
        help="simulated shoppers against a running server, with a report",
        description="Simulate viewers of a live shop against one server and write a report.",
    )
    p.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    p.add_argument(
        "--room", required=True, help="room id (created if missing and --admin-token is given)"
    )
    p.add_argument("--viewers", type=int, default=1000)
    p.add_argument("--duration", type=seconds, default=60.0, help="steady phase (30s, 2m)")
    p.add_argument("--scenario", choices=(*SCENARIOS, "auction"), default="mixed")
    p.add_argument("--procs", type=int, default=None, help="client processes (default: cores)")
    p.add_argument("--ramp", default=None, help="join over this long (default per scenario)")
    p.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="OBJECTIVE",
        help="e.g. 'p99<250ms', 'errors<1%%', 'buy_p99<500ms' (repeatable)",
    )
    p.add_argument("--out", default="loadtest-report", help="directory for report.json/.html")
    p.add_argument("--admin-token", default=os.environ.get("LIVECART_ADMIN_TOKEN"))
    p.add_argument("--host-token", default=os.environ.get("LIVECART_HOST_TOKEN"))
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a server that is not on 127.0.0.1 (yours, explicitly)",
    )
    p.add_argument("--sample", type=int, default=None, help="viewers that decode and measure")
    p.add_argument("--format", choices=("msgpack", "json"), default="msgpack")
    p.add_argument("--chat-rate", type=float, default=None, help="chat messages/s, whole room")
    p.add_argument("--heart-rate", type=float, default=None, help="heart taps/s, whole room")
    p.add_argument("--explain-rate", type=float, default=None, help="'explain this' taps/s")
    p.add_argument("--buyers", type=float, default=None, help="share of viewers who press buy")
    p.add_argument("--pay", type=float, default=None, help="share of holders who pay")
    p.add_argument("--units", type=int, default=100, help="units in the flash sale")
    p.add_argument("--limit", type=int, default=1, help="units per buyer in the sale")
    p.add_argument("--price", type=int, default=9900, help="sale price in minor units")
    p.add_argument("--currency", default="CNY")
    p.add_argument("--product", default=None, help="buy this product's existing sale instead")
    p.add_argument("--settle", type=float, default=10.0, help="max wait for replies at the end")
    p.add_argument(
        "--publish",
        action="store_true",
        help="video scenario: publish a synthetic stream over WHIP (host token)",
    )
    p.add_argument("--bidders", type=int, default=None,
                   help="auction: viewers who bid in the storm (default: a fifth)")  # fmt: skip
    p.add_argument("--storm", type=float, default=2.0, help="auction: the storm's seconds")
    p.add_argument("--counter", type=int, default=1, help="auction: counter-bid seconds")
    p.add_argument("--seed", type=int, default=secrets.randbelow(10**6))
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(handler=main)
