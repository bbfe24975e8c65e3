"""``livecart loadtest``: simulated shoppers against one running server, and the report.

The parent process prepares the show through the HTTP API (the room, products for
"explain this", the flash sale: add a product, pin it, open the sale with a short
countdown), starts one client process per core (``loadtest.shoppers``), prints a
progress line every second, then reads the server's counters and books, checks the
``--slo`` objectives and writes ``report.json`` and ``report.html``.

It never loads anything but ``--url`` (loopback only unless ``--allow-remote``), and
it stops by itself: the clients end at ``ramp + duration`` plus a bounded settle time,
and the parent stops waiting for them shortly after that.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import secrets
import sys
import time
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from livecart.loadtest import books, report
from livecart.loadtest.aggregate import Aggregate
from livecart.loadtest.scenarios import (
    SCENARIOS,
    Behaviour,
    Timeline,
    behaviour,
    sample_count,
    seconds,
    timeline,
)
from livecart.loadtest.shoppers import worker_main
from livecart.loadtest.show import (
    Publisher,
    SetupError,
    add_products,
    cpu_of,
    open_sale,
    prepare_room,
    rss_of,
    server_processes,
    token_of,
)
from livecart.loadtest.slo import Slo, verdicts
from livecart.loadtest.summary import build_report, buyer_figures
from livecart.loadtest.target import ApiError, Target, TargetRefused
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


def _readable(pipes: list[Connection], timeout: float) -> list[Connection]:
    ready = wait(pipes, timeout=timeout)
    return [p for p in pipes if p in ready]


def _metrics(target: Target) -> dict[str, Any] | None:
    try:
        return dict(target.get("/metrics"))
    except (ApiError, OSError, ValueError):
        return None


def run(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    """Run the load test; return the report and the exit code (0 pass, 1 fail)."""
    target = Target.parse(args.url, allow_remote=args.allow_remote)
    slos = [Slo.parse(s) for s in args.slo or []]
    if args.viewers < 1 or args.duration <= 0:
        raise SetupError("--viewers must be at least 1 and --duration above 0")
    for name in ("buyers", "pay"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 1:
            raise SetupError(f"--{name} is a share between 0 and 1")
    b: Behaviour = behaviour(
        args.scenario,
        chat_rate=args.chat_rate,
        heart_rate=args.heart_rate,
        explain_rate=args.explain_rate,
        buyers=args.buyers,
        pay=args.pay,
    )
    ramp = seconds(args.ramp) if args.ramp is not None else min(b.ramp, args.duration / 3)
    notes: list[str] = []
    try:
        target.get("/healthz")
    except ApiError as exc:
        raise SetupError(f"the server is not healthy: {exc}") from None
    snap = prepare_room(target, args)
    token = token_of(args)
    if b.sale and not token:
        if args.scenario == "flash-sale":
            raise SetupError("the flash-sale scenario needs --host-token or --admin-token")
        b = replace(b, sale=False)
        notes.append("no --host-token or --admin-token: no flash sale in this run")
    lineup = list(snap.get("lineup") or [])
    if b.explain_rate and not lineup:
        if token:
            lineup = add_products(target, args.room, token, 3)
        else:
            notes.append("the lineup is empty and no token was given: no 'explain this' taps")
    tl: Timeline = timeline(b, ramp, args.duration)
    samples = sample_count(args.viewers, args.sample)
    procs = max(1, min(args.procs or os.cpu_count() or 1, args.viewers))
    raise_fd_limit()

    server = server_processes(target)
    rss0 = rss_of(server)
    ctx = mp.get_context("spawn")
    pipes: list[Connection] = []
    children: list[Any] = []
    sale_info: dict[str, Any] | None = None
    publisher: Publisher | None = None
    books_before: dict[str, Any] | None = None
    metrics_before: dict[str, Any] | None = None
    agg = Aggregate(procs)
    finals: list[dict[str, Any]] = []
    quiet = getattr(args, "quiet", False)
    started = time.time()
    try:
        for k in range(procs):
            plan = WorkerPlan(
                index=k,
                host=target.host,
                port=target.port,
                room=args.room,
                fmt=JSON if args.format == "json" else MSGPACK,
                procs=procs,
                viewers_total=args.viewers,
                samples=samples,
                behaviour=b,
                share=1 / procs,
                timeline=tl,
                lineup=lineup,
                sale=None,
                settle=args.settle,
                seed=args.seed,
            )
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(plan, child), daemon=True)
            proc.start()
            child.close()
            pipes.append(parent)
            children.append(proc)
        if args.publish:
            publisher = Publisher(ctx, target, args, tl.end + args.settle + 60)
            notes.append(publisher.wait_live())
        ready = 0
        deadline = time.monotonic() + 60
        while ready < procs and time.monotonic() < deadline:
            for p in _readable(pipes, 1.0):
                try:
                    msg = p.recv()
                except (EOFError, OSError):
                    raise SetupError("a client process failed to start") from None
                if msg.get("kind") == "ready":
                    ready += 1
        if ready < procs:
            raise SetupError("the client processes did not start")
        # Every client is up: fix the start, then open the sale with its countdown
        # relative to it (the clients learn the product and the time with "go").
        t0 = time.time() + 0.5
        if b.sale and token and tl.sale_open is not None:
            sale_info = open_sale(target, args, token, int((t0 + tl.sale_open) * 1000))
            books_before = books.read(target, args.room, token)
        metrics_before = _metrics(target)
        t0 = max(t0, time.time() + 0.2)  # preparing may have taken a moment
        go: dict[str, Any] = {"kind": "go", "t0": t0}
        if sale_info is not None:
            opens_at = sale_info.get("opens_at")
            open_rel = max(0.0, opens_at / 1000 - t0) if opens_at else tl.sale_open or 0.0
            sale_info["open_at"] = round(open_rel, 3)
            go["sale"] = {"product_id": sale_info["product_id"], "open_at": open_rel}
        for p in pipes:
            p.send(go)
        if not quiet:
            print(
                f"livecart loadtest: {args.viewers} viewers, scenario {args.scenario}, "
                f"{procs} client process(es), ramp {tl.ramp:.0f}s, duration "
                f"{tl.duration:.0f}s -> {target.base} room {args.room}",
                flush=True,
            )
        hard_end = time.monotonic() + (t0 - time.time()) + tl.end + args.settle + 30
        printed = 0
        open_pipes = list(pipes)
        while open_pipes and time.monotonic() < hard_end:
            for p in _readable(open_pipes, 0.5):
                try:
                    msg = p.recv()
                except (EOFError, OSError):
                    open_pipes.remove(p)
                    continue
                if msg["kind"] == "tick":
                    sec = agg.add(msg)
                    if sec not in agg.server_cpu and server:
                        agg.server_cpu[sec] = cpu_of(server)
                elif msg["kind"] == "final":
                    finals.append(msg)
                    open_pipes.remove(p)
            while agg.complete(printed + 1):
                printed += 1
                if not quiet:
                    row = agg.row(printed)
                    totals = agg.totals()["buys"]
                    buys = {"pressed": agg.totals()["keys"], **totals}
                    print(progress_line(row, args.viewers, buys), flush=True)
        if open_pipes:
            notes.append("a client process did not finish in time and was stopped")
    except KeyboardInterrupt:
        for p in pipes:
            with contextlib.suppress(OSError):
                p.send({"kind": "stop"})
        raise
    finally:
        for proc in children:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        if publisher is not None:
            publisher.stop()
        for p in pipes:
            p.close()
    rss1 = rss_of(server)
    time.sleep(0.3)
    metrics_after = _metrics(target)
    books_result = None
    if sale_info is not None and books_before is not None and token:
        buyers = buyer_figures(finals, agg)
        try:
            after = books.read(target, args.room, token)
        except (ApiError, OSError, ValueError) as exc:
            after = {"audit": {"ok": False, "problems": [f"could not read the books: {exc}"]}}
        books_result = books.check(books_before, after, buyers, sale_info)
    rep = build_report(
        args,
        b,
        tl,
        samples,
        procs,
        agg,
        finals,
        sale_info,
        books_result,
        metrics_before,
        metrics_after,
        server,
        rss0,
        rss1,
        notes,
        started,
    )
    rep["slo"] = verdicts(slos, rep["summary"])
    failed = [v["slo"] for v in rep["slo"] if not v["ok"]]
    if books_result is not None and not books_result["ok"]:
        failed.append("books")
    rep["verdict"] = "fail" if failed else "pass"
    rep["failed"] = failed
    return rep, (1 if failed else 0)


def print_summary(rep: dict[str, Any], paths: list[Path]) -> None:
    print(report.text_summary(rep))
    for path in paths:
        print(f"report: {path}")


def main(args: argparse.Namespace) -> int:
    try:
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
    p.add_argument("--scenario", choices=SCENARIOS, default="mixed")
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
    p.add_argument("--seed", type=int, default=secrets.randbelow(10**6))
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(handler=main)
