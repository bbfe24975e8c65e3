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
import shlex
import sys
import time
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from loadtest import books, report
from loadtest.aggregate import NOT_ERRORS, Aggregate, error_count
from loadtest.scenarios import (
    SCENARIOS,
    Behaviour,
    Timeline,
    behaviour,
    sample_count,
    seconds,
    timeline,
)
from loadtest.shoppers import WorkerPlan, worker_main
from loadtest.slo import Slo, verdicts
from loadtest.stats import exact_percentile, percentiles
from loadtest.target import ApiError, Target, TargetRefused
from loadtest.wsclient import JSON, MSGPACK, raise_fd_limit


class SetupError(RuntimeError):
    """The show could not be prepared (exit code 2)."""


def _token(args: argparse.Namespace) -> str | None:
    return args.host_token or args.admin_token or None


def prepare_room(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """The room's snapshot; the room is created when missing and an admin token is given."""
    path = target.room_path(args.room)
    try:
        return dict(target.get(path))
    except ApiError as exc:
        if exc.status != 404:
            raise
    if not args.admin_token:
        raise SetupError(f"room {args.room!r} does not exist (pass --admin-token to create it)")
    created = target.post(
        "/api/rooms",
        {"id": args.room, "title": "Load test", "host": "loadtest"},
        args.admin_token,
    )
    if not args.host_token:
        args.host_token = created["host_token"]
    return dict(target.get(path))


def _host(target: Target, room: str, token: str, cmd: dict[str, Any]) -> dict[str, Any]:
    reply = target.post(target.room_path(room, "/commands"), cmd, token)
    return dict(reply["data"])


def add_products(target: Target, room: str, token: str, n: int) -> list[str]:
    """Products in the lineup for "explain this" (no stock)."""
    ids = []
    for k in range(n):
        product = _host(
            target,
            room,
            token,
            {
                "cmd": "add_product",
                "name": f"Item {k + 1}",
                "price": 1990 + 1000 * k,
                "currency": "CNY",
                "image_url": "/static/img/item.png",
                "stock": 0,
            },
        )
        ids.append(product["product"]["id"])
    return ids


def open_sale(
    target: Target, args: argparse.Namespace, token: str, opens_at_ms: int
) -> dict[str, Any]:
    """Add a product with ``--units`` in stock, pin it and open a sale with a countdown
    to ``opens_at_ms``; or take the existing sale of ``--product``."""
    if args.product:
        snap = target.get(target.room_path(args.room))
        sale = (snap.get("sales") or {}).get(args.product)
        if not sale or sale.get("state") == "closed":
            raise SetupError(f"product {args.product!r} has no open or scheduled sale")
        figures = target.get(target.room_path(args.room, "/figures"), token)
        return {
            "product_id": args.product,
            "units": int(sale["units"]),
            "opens_at": sale.get("opens_at"),
            "created": False,
            "stock": (figures.get("stock") or {}).get(args.product),
        }
    product = _host(
        target,
        args.room,
        token,
        {
            "cmd": "add_product",
            "name": "Flash deal",
            "price": args.price,
            "currency": args.currency,
            "image_url": "/static/img/deal.png",
            "stock": args.units,
        },
    )
    pid = product["product"]["id"]
    _host(target, args.room, token, {"cmd": "pin", "product_id": pid})
    data = _host(
        target,
        args.room,
        token,
        {
            "cmd": "open_sale",
            "product_id": pid,
            "price": args.price,
            "currency": args.currency,
            "units": args.units,
            "limit": args.limit,
            "opens_at": opens_at_ms,
        },
    )
    return {
        "product_id": pid,
        "units": args.units,
        "opens_at": data["sale"]["opens_at"],
        "created": True,
    }


class Publisher:
    """A synthetic host publishing video to the room during the run (``--publish``)."""

    def __init__(self, ctx: Any, target: Target, args: argparse.Namespace, seconds: float) -> None:
        from loadtest.publisher import publisher_main

        token = _token(args)
        if not token:
            raise SetupError("--publish needs --host-token or --admin-token")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=publisher_main,
            args=(target.base, args.room, token, seconds, child),
            daemon=True,
        )
        self.proc.start()
        child.close()

    def wait_live(self) -> str:
        if not self.pipe.poll(60):
            raise SetupError("the video publisher did not start in 60 s")
        answer = self.pipe.recv()
        if not answer.get("ok"):
            raise SetupError(f"the video publisher failed: {answer.get('error')}")
        return "a synthetic host published 640x360 H.264 + Opus over WHIP during the run"

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.pipe.send({"kind": "stop"})
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        self.pipe.close()


def server_processes(target: Target) -> list[Any]:
    """The processes listening on the target's port, when it is on this machine."""
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return []
    if target.host not in ("127.0.0.1", "::1") and not target.host.startswith("127."):
        return []
    pids = set()
    with contextlib.suppress(psutil.Error, OSError):
        for c in psutil.net_connections(kind="tcp"):
            listening = c.status == psutil.CONN_LISTEN and c.laddr and c.pid
            if listening and c.laddr.port == target.port:
                pids.add(c.pid)
    procs = []
    for pid in sorted(pids):
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    return procs


def _cpu_of(procs: list[Any]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(Exception):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _rss_of(procs: list[Any]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(Exception):
            total += p.memory_info().rss
    return total


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
    token = _token(args)
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
    rss0 = _rss_of(server)
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
                        agg.server_cpu[sec] = _cpu_of(server)
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
        if publisher is not None:
            publisher.stop()
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        for p in pipes:
            p.close()
    rss1 = _rss_of(server)
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


SECRET_FLAGS = ("--admin-token", "--host-token")


def command_line(argv: list[str]) -> str:
    """The command as typed, with token values hidden (the report gets shared)."""
    out: list[str] = []
    hide = False
    for arg in argv:
        if hide:
            out.append("***")
            hide = False
        elif arg in SECRET_FLAGS:
            out.append(arg)
            hide = True
        elif arg.startswith(tuple(f + "=" for f in SECRET_FLAGS)):
            out.append(arg.split("=", 1)[0] + "=***")
        else:
            out.append(shlex.quote(arg))
    return " ".join(["livecart", *out])


def buyer_figures(finals: list[dict[str, Any]], agg: Aggregate) -> dict[str, Any]:
    totals = agg.totals()
    outcomes: dict[str, int] = {}
    for f in finals:
        for k, n in f["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + n
    from loadtest.purchase import FAILURES

    return {
        "keys": totals["keys"],
        "definite_keys": totals["definite_keys"],
        "orders": [o for f in finals for o in f["orders"]],
        "ordered_units": sum(f["ordered_units"] for f in finals),
        "reserved_units": sum(f["reserved_units"] for f in finals),
        "failed": sum(n for k, n in outcomes.items() if k in FAILURES),
    }


def build_report(
    args: argparse.Namespace,
    b: Behaviour,
    tl: Timeline,
    samples: int,
    procs: int,
    agg: Aggregate,
    finals: list[dict[str, Any]],
    sale: dict[str, Any] | None,
    books_result: dict[str, Any] | None,
    metrics_before: dict[str, Any] | None,
    metrics_after: dict[str, Any] | None,
    server: list[Any],
    rss0: int,
    rss1: int,
    notes: list[str],
    started: float,
) -> dict[str, Any]:
    series = agg.series()
    totals = agg.totals()
    count = totals["count"]
    steady = [r for r in series if tl.ramp < r["t"] <= tl.end] or series

    def avg(key: str) -> float | None:
        vals = [r[key] for r in steady if r.get(key) is not None]
        return round(sum(vals) / len(vals), 1) if vals else None

    connect_attempts = count.get("connect_attempts", 0)
    commands = count.get("commands", 0)
    errors = error_count(totals["errors"], count.get("drops", 0))
    cpu_rows = [r["cpu"] for r in series if r["cpu"]]
    per_proc = [[row[k] for row in cpu_rows if k < len(row)] for k in range(procs)]
    gen_avg = [round(sum(c) / len(c), 1) if c else None for c in per_proc]
    gen_max = [max(c) if c else None for c in per_proc]
    busy = [sum(1 for x in c if x >= 95) / len(c) if c else 0 for c in per_proc]
    saturated = any((a or 0) >= 85 for a in gen_avg) or any(x > 0.2 for x in busy)
    server_rows = [r["server_cpu"] for r in steady if "server_cpu" in r]
    server_peak = max((r["server_cpu"] for r in series if "server_cpu" in r), default=None)
    summary: dict[str, Any] = {
        "viewers": args.viewers,
        "connected_peak": max((r["connected"] for r in series), default=0),
        "connected_end": series[-1]["connected"] if series else 0,
        "connect_attempts": connect_attempts,
        "connect_failures": count.get("connect_failed", 0),
        "drops": count.get("drops", 0),
        "reconnects": count.get("reconnects", 0),
        "close_codes": dict(totals["close_codes"]),
        "samples": samples,
        "latency": {**percentiles(agg.total_lat), "n": agg.total_lat.n},
        "join": {**percentiles(agg.total_join), "n": agg.total_join.n},
        "rejoin": {**percentiles(agg.total_rejoin), "n": agg.total_rejoin.n},
        "resumed": count.get("resumed", 0),
        "msgs_per_s": avg("msgs"),
        "chat_offered_per_s": avg("chat_sent"),
        "deliveries_per_s": avg("deliveries"),
        "frames_per_s": avg("frames"),
        "mbytes_per_s": avg("mbytes"),
        "chat_sent": count.get("chat_sent", 0),
        "chat_accepted": count.get("chat_ok", 0),
        "hearts": {"commands": count.get("heart_sent", 0), "taps": count.get("heart_taps", 0)},
        "explain": count.get("explain_sent", 0),
        "commands": commands,
        "errors": {
            "count": errors,
            "rate": round(100 * errors / max(1, commands + connect_attempts), 3),
            "by_code": {k: v for k, v in totals["errors"].items() if k not in NOT_ERRORS},
        },
        "gaps": totals["gaps"],
        "repeats": totals["repeats"],
        "skipped": totals["skipped"],
        "live_viewers": totals["live_viewers"],
        "received": {
            "frames": totals["frames"],
            "batches": totals["batches"],
            "bytes": totals["bytes"],
        },
        "generator": {
            "processes": procs,
            "cpu_percent_avg": gen_avg,
            "cpu_percent_max": gen_max,
            "saturated": saturated,
        },
    }
    if server:
        summary["server"] = {
            "pids": [p.pid for p in server],
            "cpu_percent_avg": round(sum(server_rows) / len(server_rows), 1)
            if server_rows
            else None,
            "cpu_percent_max": server_peak,
            "rss_mb": round(rss1 / 2**20, 1),
            "rss_growth_per_viewer_kib": round((rss1 - rss0) / 1024 / max(1, args.viewers), 1),
        }
    if metrics_before and metrics_after:
        delivered = metrics_after.get("deliveries", 0) - metrics_before.get("deliveries", 0)
        summary["server_counters"] = {
            "deliveries": delivered,
            "commands": metrics_after.get("commands", 0) - metrics_before.get("commands", 0),
            "chat_skipped": metrics_after.get("chat_skipped", 0)
            - metrics_before.get("chat_skipped", 0),
            "slow_closed": metrics_after.get("slow_closed", 0)
            - metrics_before.get("slow_closed", 0),
            "received_batches": totals["batches"],
            "agreement": round(totals["batches"] / delivered, 4) if delivered else None,
        }
    if b.video:
        v = totals["video"]
        summary["video"] = {
            **v,
            "frames_per_s": avg("video_frames"),
            "behind_live": {**percentiles(agg.total_video), "n": agg.total_video.n},
        }
    if sale is not None:
        summary["buys"] = buy_summary(finals, totals, sale)
    if books_result is not None:
        summary["books"] = books_result
    limit = "server"
    if saturated:
        limit = "client"
    summary["limit"] = limit
    return {
        "version": 1,
        "tool": "livecart loadtest",
        "command": command_line(sys.argv[1:]),
        "started_at": started,
        "url": args.url,
        "room": args.room,
        "scenario": args.scenario,
        "config": {
            "viewers": args.viewers,
            "duration": round(tl.duration, 3),
            "ramp": round(tl.ramp, 3),
            "procs": procs,
            "samples": samples,
            "format": args.format,
            "behaviour": {k: getattr(b, k) for k in b.__dataclass_fields__},
            "sale_open": None if tl.sale_open is None else round(tl.sale_open, 3),
            "storm_at": None if tl.storm_at is None else round(tl.storm_at, 3),
        },
        "sale": sale,
        "notes": notes,
        "summary": summary,
        "series": series,
    }


def buy_summary(
    finals: list[dict[str, Any]], totals: dict[str, Any], sale: dict[str, Any]
) -> dict[str, Any]:
    buy_ms = [x for f in finals for x in f["buy_ms"]]
    pay_ms = [x for f in finals for x in f["pay_ms"]]
    reply_times = sorted(t for f in finals for t in f.get("reply_times", []))
    reserved_times = sorted(t for f in finals for t in f.get("reserved_times", []))
    states: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    pay: dict[str, int] = {}
    for f in finals:
        for src, dst in (
            (f["states"], states),
            (f["outcomes"], outcomes),
            (f["pay_outcomes"], pay),
        ):
            for k, n in src.items():
                dst[k] = dst.get(k, 0) + n
    open_at = float(sale.get("open_at") or 0.0)

    def per_second(times: list[float]) -> float | None:
        if not times:
            return None
        span = max(times[-1] - open_at, 0.001)
        return round(len(times) / span, 1)

    def pct(values: list[float], q: float) -> float | None:
        v = exact_percentile(values, q)
        return None if v is None else round(v, 1)

    return {
        "buyers": sum(f["purchases"] for f in finals),
        "pressed": sum(f["pressed"] for f in finals),
        "keys": totals["keys"],
        "definite": totals["definite_keys"],
        "unresolved": totals["keys"] - totals["definite_keys"],
        "retries": totals["buys"].get("retry", 0),
        "outcomes": outcomes,
        "states": states,
        "pay_outcomes": pay,
        "reserved": outcomes.get("reserved", 0),
        "ordered": states.get("ordered", 0),
        "abandoned": states.get("abandoned", 0),
        "p50_ms": pct(buy_ms, 0.5),
        "p99_ms": pct(buy_ms, 0.99),
        "max_ms": pct(buy_ms, 1.0),
        "pay_p50_ms": pct(pay_ms, 0.5),
        "pay_p99_ms": pct(pay_ms, 0.99),
        "replies_per_s": per_second(reply_times),
        "reservations_per_s": per_second(reserved_times),
        "last_reply_s": round(reply_times[-1] - open_at, 3) if reply_times else None,
        "last_reservation_s": round(reserved_times[-1] - open_at, 3) if reserved_times else None,
    }


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
