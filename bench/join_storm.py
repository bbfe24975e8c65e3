"""``python -m bench --scenario join-storm``: N viewers open their sockets within one second.

It starts a private Redis and the server (``--server-workers N`` processes) like the chat
benchmark, creates a room and has ``--procs`` client processes open N viewer sockets
between them, spread evenly over ``--window`` seconds (1 s) from one common start. Each
socket's time to snapshot runs from the moment its client began to connect to the
arrival of its first frame (the snapshot). It prints the time from the storm's start
until the LAST snapshot arrived, p50/p99/max time to snapshot, the handshakes refused
(an HTTP answer other than 101, or the connection refused) and otherwise failed (a
timeout, a reset) -- both must be 0 -- the server's CPU over the storm, and the
clients' CPU and how late they opened their sockets against the plan, so that a
saturated generator is not mistaken for a slow server.

The server the benchmark starts has no per-address caps (``bench.localserver``): every
simulated viewer comes from 127.0.0.1. Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import psutil

from bench import procstat
from bench.localserver import cpu_seconds, http_json, local_server
from livecart.loadtest import server_stages
from livecart.loadtest.client_pool import PipedProcesses, run_on_uvloop
from livecart.loadtest.target import Target
from livecart.loadtest.wsclient import MSGPACK, Viewer, ViewerStats, open_viewer, raise_fd_limit

VIEWERS_PER_PROC = 8000
OPEN_TIMEOUT = 30.0  # one socket's handshake and snapshot, at the most
START_DELAY = 0.5  # the common start is this far after every process is ready


@dataclass(frozen=True)
class StormPlan:
    host: str
    port: int
    room: str
    index: int  # this process among ``procs``
    procs: int
    viewers: int  # the whole storm's
    window: float


def _client_proc(plan: StormPlan, conn: Any) -> None:
    run_on_uvloop(_client_main(plan, conn))


def failure_kind(exc: BaseException) -> str:
    """``refused`` (an HTTP answer other than 101, or the connection refused),
    ``timeout``, or ``failed`` (anything else: a reset, a close before the snapshot)."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionError) and str(exc).startswith("HTTP/"):
        return "refused"
    return "failed"


async def _client_main(plan: StormPlan, conn: Any) -> None:
    stats = ViewerStats()
    loop = asyncio.get_running_loop()
    conn.send("ready")
    start_wall: float = await loop.run_in_executor(None, conn.recv)
    # wall clock = monotonic + offset: the parent compares every process's wall times
    offset = time.time() - time.monotonic()
    start = start_wall - offset
    mine = range(plan.index, plan.viewers, plan.procs)  # every process spans the window
    opened: list[Viewer] = []
    to_snapshot: list[float] = []
    late: list[float] = []
    kinds: Counter[str] = Counter()
    examples: dict[str, str] = {}
    last_snapshot = 0.0

    async def one(i: int, began: float) -> None:
        nonlocal last_snapshot
        try:
            v = await open_viewer(
                plan.host,
                plan.port,
                f"/ws/{plan.room}?name=storm{i}",
                sample=False,
                fmt=MSGPACK,
                stats=stats,
                timeout=OPEN_TIMEOUT,
            )
        except Exception as exc:  # counted and reported, never raised
            kind = failure_kind(exc)
            kinds[kind] += 1
            examples.setdefault(kind, f"{type(exc).__name__}: {exc}"[:120])
            return
        opened.append(v)
        got = v.first_at if v.first_at is not None else time.monotonic()
        to_snapshot.append((got - began) * 1000)
        last_snapshot = max(last_snapshot, got)

    if start > time.monotonic():
        await asyncio.sleep(start - time.monotonic())
    cpu0 = time.process_time()
    jobs: list[asyncio.Task[None]] = []
    for i in mine:
        due = start + plan.window * i / plan.viewers
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
            now = time.monotonic()
        late.append((now - due) * 1000)
        jobs.append(loop.create_task(one(i, now)))
    await asyncio.gather(*jobs)
    elapsed = time.monotonic() - start
    cpu = time.process_time() - cpu0
    conn.send(
        {
            "opened": len(opened),
            "to_snapshot_ms": to_snapshot,
            "last_snapshot_s": last_snapshot - start if last_snapshot else None,
            "late_ms": late,
            "kinds": dict(kinds),
            "examples": examples,
            "closed": stats.closed,
            "cpu_percent": round(100 * cpu / elapsed) if elapsed > 0 else 0,
        }
    )
    await loop.run_in_executor(None, conn.recv)  # "close"
    for v in opened:
        v.close()
    await asyncio.sleep(0.2)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stage(f: server_stages.StageFigure | None) -> dict[str, Any] | None:
    return None if f is None else {"count": f.count, "p50_ms": f.p50_ms, "p99_ms": f.p99_ms}


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    workers = max(1, args.server_workers)
    with contextlib.ExitStack() as stack:
        server_procs: list[psutil.Process] = []
        if args.url:
            base, admin = Target.parse(args.url).base, args.admin_token
        else:
            server = stack.enter_context(local_server(appendfsync="everysec", workers=workers))
            base, admin = server.base, server.admin
            server_procs = server.processes()
        room = "storm-" + secrets.token_hex(3)
        http_json(f"{base}/api/rooms", {"id": room, "title": "storm", "host": "bench"}, admin)
        parsed = urlparse(base)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
        procs = max(1, args.procs or max(2, math.ceil(args.viewers / VIEWERS_PER_PROC)))
        procs = min(procs, max(1, args.viewers))
        clients = PipedProcesses()
        for k in range(procs):
            clients.start(
                _client_proc, StormPlan(host, port, room, k, procs, args.viewers, args.window)
            )
        where = "" if args.url else f", server: {workers} worker process(es)"
        print(
            f"join storm: {args.viewers} viewers within {args.window:g} s from {procs} client "
            f"process(es){where}...",
            flush=True,
        )
        for p in clients.pipes:
            p.recv()  # "ready"
        stages0 = server_stages.scrape(base)
        cpu0 = cpu_seconds(server_procs)
        kernel0 = procstat.listen_counters()
        start = time.time() + START_DELAY
        clients.send(start)
        done = [p.recv() for p in clients.pipes]
        wall = time.time() - start
        server_cpu = cpu_seconds(server_procs) - cpu0
        kernel = {k: v - kernel0[k] for k, v in procstat.listen_counters().items()}
        if workers > 1:
            time.sleep(1.2)  # every worker's /metrics snapshot covers the storm
        stages = server_stages.window(stages0, server_stages.scrape(base))
        clients.send("close")
        clients.close(10)
    to_snapshot = [x for d in done for x in d["to_snapshot_ms"]]
    late = [x for d in done for x in d["late_ms"]]
    kinds: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for d in done:
        kinds.update(d["kinds"])
        examples.update(d["examples"])
    lasts = [d["last_snapshot_s"] for d in done if d["last_snapshot_s"] is not None]
    return {
        "viewers": args.viewers,
        "window_s": args.window,
        "server_workers": workers,
        "client_procs": procs,
        "snapshots": sum(d["opened"] for d in done),
        "last_snapshot_s": max(lasts) if lasts else None,
        "p50_ms": _pct(to_snapshot, 0.50),
        "p99_ms": _pct(to_snapshot, 0.99),
        "max_ms": max(to_snapshot) if to_snapshot else None,
        "refused": kinds.get("refused", 0),
        "timeouts": kinds.get("timeout", 0),
        "failed": kinds.get("failed", 0),
        "failure_examples": examples,
        "server_cpu_percent": 100 * server_cpu / wall if server_procs and wall > 0 else None,
        "open_late_p99_ms": _pct(late, 0.99),
        "kernel": kernel,
        "tick_late": _stage(stages.get("tick_late")),
        "tick": _stage(stages.get("tick")),
        "over_1s": sum(1 for x in to_snapshot if x > 1000),
        "client_cpu_percent": [d["cpu_percent"] for d in done],
    }


def report(r: dict[str, Any]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f} ms" if v < 10 else f"{v:,.0f} ms"

    last = r["last_snapshot_s"]
    server = r["server_cpu_percent"]
    limit = ""
    if max(r["client_cpu_percent"]) > 90:
        limit = "  <- the clients, not the server, may have been the limit"
    lines = [
        f"join storm               {r['viewers']} viewers opened their sockets within "
        f"{r['window_s']:g} s from {r['client_procs']} client process(es) (server: "
        f"{r['server_workers']} worker process(es))",
        f"snapshots                {r['snapshots']} of {r['viewers']}; the last one "
        + ("-" if last is None else f"{last:.2f} s")
        + " after the storm started",
        f"time to snapshot         p50 {ms(r['p50_ms'])}, p99 {ms(r['p99_ms'])}, "
        f"max {ms(r['max_ms'])} (from each socket's connect)",
        f"handshakes               refused {r['refused']}, timed out {r['timeouts']}, "
        f"failed {r['failed']}",
        *[f"                         ! {k}: {v}" for k, v in r["failure_examples"].items()],
        f"listen queue (kernel)    {', '.join(f'{k} {v}' for k, v in r['kernel'].items())} "
        f"(machine-wide: a full queue drops a SYN or an ACK, retried after 1 s); "
        f"{r['over_1s']} snapshots took over 1 s",
        "server CPU               "
        + ("-" if server is None else f"{server:.0f}% of a core")
        + " over the storm (all server processes)",
        *(
            [
                f"server loop              ticker woke late p50 {ms(late['p50_ms'])}, p99 "
                f"{ms(late['p99_ms'])} (the loop busy with handshakes and joins)"
            ]
            if (late := r.get("tick_late"))
            else []
        ),
        f"client CPU               {r['client_cpu_percent']} % per process; sockets opened "
        f"late by p99 {ms(r['open_late_p99_ms'])} against the plan{limit}",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    result = run(args)
    print(report(result))
    if args.json:
        print(json.dumps(result))
    return 0
