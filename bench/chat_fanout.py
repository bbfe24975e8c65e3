"""``python -m bench``: one room, N viewers, R chat messages a second; figures, not a test.

It starts its own Redis and one server process (unless ``--url`` is given), creates a
room, connects N viewers from ``--procs`` client processes (light viewers count frames;
``--sample`` of them decode everything and measure latency and gaps), lets ``--rate``
senders each chat once a second for ``--duration`` seconds, and prints:
offered and accepted messages/s, deliveries/s, frames/s, server CPU-seconds per 1M
deliveries (every server process: ``--server-workers N`` and its supervisor), the
delivery latency from the sender's clock (each sender puts its send time in the text,
the sample viewers subtract it from their receive time: what a viewer feels) beside the
server-stamped one (from the event's ``ts``), the stages in between (docs/loadtest.md,
"Stages": viewers' figures, and the server's histograms read from ``/metrics`` before
and after the window), server RSS per idle viewer (all server processes), and the
clients' own CPU and timer lateness, so that a saturated generator is not mistaken for
a slow server. ``--rate 0`` connects idle viewers only (a memory run).

``--scenario flash-sale`` is the checkout benchmark instead (``bench.flash_sale``);
``--scenario reserve`` measures the checkout service alone (``bench.reserve``);
``--scenario join-storm`` opens every viewer's socket within one second
(``bench.join_storm``).

Only 127.0.0.1 is ever targeted; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import psutil

from bench.localserver import cpu_seconds, http_json, local_server, rss_bytes
from bench.viewer_groups import SAMPLE, SENDER, connect_groups
from livecart.loadtest import server_stages
from livecart.loadtest.client_pool import PipedProcesses, run_on_uvloop, share, timer_lateness
from livecart.loadtest.target import Target
from livecart.loadtest.wsclient import (
    JSON,
    MSGPACK,
    Viewer,
    ViewerStats,
    open_viewer,
    raise_fd_limit,
    stamped_text,
)

DRAIN_STEP = 0.5
DRAIN_MAX = 15.0
CONNECT_TIMEOUT = 60.0  # one viewer's handshake and snapshot while thousands connect


@dataclass
class Plan:
    host: str
    port: int
    room: str
    light: int
    sample: int
    senders: int
    duration: float


def _client_proc(plan: Plan, conn: Any) -> None:
    run_on_uvloop(_client_main(plan, conn))


async def _client_main(plan: Plan, conn: Any) -> None:
    stats = ViewerStats()
    sample_stats = ViewerStats()
    path = f"/ws/{plan.room}"

    async def one(i: int, kind: str) -> Viewer:
        return await open_viewer(
            plan.host,
            plan.port,
            f"{path}?name={kind}{i}",
            sample=kind == SAMPLE,
            fmt=JSON if kind == SENDER else MSGPACK,
            stats=sample_stats if kind == SAMPLE else stats,
            timeout=CONNECT_TIMEOUT,
        )

    groups = await connect_groups(
        one, light=plan.light, sample=plan.sample, senders=plan.senders, in_flight=100
    )
    conn.send(groups.connected())
    samples, senders = groups.samples, groups.senders
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # "go"
    everyone = groups.everyone
    base_frames = sum(v.reader.frames for v in everyone)
    base_bytes = sum(v.reader.bytes for v in everyone)
    for v in samples:
        v.measuring = True
    cpu0 = time.process_time()
    start = time.monotonic()
    lateness: list[float] = []
    timer = asyncio.create_task(timer_lateness(lateness))
    sent = 0
    # Each sender chats once a second, the senders spread evenly over the second.
    step = 1.0 / max(1, len(senders))
    next_at = start
    i = 0
    while senders and time.monotonic() - start < plan.duration:
        now = time.monotonic()
        if now < next_at:
            await asyncio.sleep(next_at - now)
        text = stamped_text(f"msg {sent} hi!", time.time() * 1000)
        senders[i % len(senders)].send({"id": sent, "cmd": "chat", "text": text})
        sent += 1
        i += 1
        next_at += step
    if not senders:
        await asyncio.sleep(plan.duration)
    await asyncio.sleep(1.0)  # let the last tick arrive
    drain = await _drain(sample_stats)
    for v in samples:
        v.measuring = False
    timer.cancel()
    cpu = time.process_time() - cpu0
    lat = sample_stats.latencies
    conn.send(
        {
            "sent": sent,
            "frames": sum(v.reader.frames for v in everyone) - base_frames,
            "bytes": sum(v.reader.bytes for v in everyone) - base_bytes,
            "sample_chat": [sample_stats.chat],
            "samples": len(samples),
            "latencies": lat,
            "sent_latencies": sample_stats.sent_latencies,
            "to_stamp": sample_stats.to_stamp,
            "drain_s": drain,
            "timer_p50_ms": _pct(lateness, 0.50),
            "timer_p99_ms": _pct(lateness, 0.99),
            "gaps": sample_stats.gaps,
            "skipped": sample_stats.skipped + stats.skipped,
            "closed": stats.closed + sample_stats.closed,
            "refused": dict(Counter(stats.refused) + Counter(sample_stats.refused)),
            "close_codes": {**stats.close_codes, **sample_stats.close_codes},
            "cpu": cpu,
            "elapsed": time.monotonic() - start,
        }
    )
    for v in everyone:
        v.close()
    await asyncio.sleep(0.2)


async def _drain(stats: ViewerStats) -> float:
    """Wait while the sample viewers still receive chat (an overloaded server delivers
    the window's messages late), ``DRAIN_STEP`` at a time for at most ``DRAIN_MAX``
    seconds, so that a late message counts as late rather than lost; return how long."""
    t0 = time.monotonic()
    seen = stats.chat
    while time.monotonic() - t0 < DRAIN_MAX:
        await asyncio.sleep(DRAIN_STEP)
        if stats.chat == seen:
            break
        seen = stats.chat
    waited = time.monotonic() - t0
    return waited if waited > DRAIN_STEP * 1.5 else 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def client_procs(args: argparse.Namespace) -> int:
    """``--procs``, else one client process per ``VIEWERS_PER_PROC`` viewers."""
    procs: int = args.procs or math.ceil(args.viewers / VIEWERS_PER_PROC)
    return max(1, procs)


VIEWERS_PER_PROC = 8000


def fd_warnings(viewers: int, procs: int, workers: int) -> list[str]:
    """What the limit on open files (lifted to the hard one) will not let through: each
    client process holds its share of sockets, each server worker its share (plus a
    margin for Redis, files and the kernel's uneven spread over ``SO_REUSEPORT``)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    out = []
    if math.ceil(viewers / procs) + 100 > soft:
        out.append(f"{math.ceil(viewers / procs)} sockets per client process is over the "
                   f"open-file limit {soft}: use more --procs")  # fmt: skip
    if math.ceil(viewers / workers * 1.05) + 300 > soft:
        out.append(f"~{math.ceil(viewers / workers)} sockets per server process is close to "
                   f"or over the open-file limit {soft}: use --server-workers")  # fmt: skip
    return out


def _busy_cores() -> float:
    """CPU seconds the whole machine spent not idle so far."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    workers = max(1, args.server_workers)
    with contextlib.ExitStack() as stack:
        server_procs: list[psutil.Process] = []
        redis_ps: list[psutil.Process] = []
        if args.url:
            base = Target.parse(args.url).base  # 127.0.0.1 only
            admin = args.admin_token
        else:
            server = stack.enter_context(local_server(appendfsync="everysec", workers=workers))
            base, admin = server.base, server.admin
            server_procs = server.processes()
            redis_ps = [psutil.Process(server.redis_pid)] if server.redis_pid else []
        room = "bench-" + secrets.token_hex(3)
        http_json(f"{base}/api/rooms", {"id": room, "title": "bench", "host": "bench"}, admin)
        parsed = urlparse(base)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
        rss0 = rss_bytes(server_procs)
        procs = client_procs(args)
        for warning in fd_warnings(args.viewers, procs, workers):
            print(f"warning: {warning}", flush=True)
        sample = min(args.sample, args.viewers)
        senders = min(max(0, args.rate), max(0, args.viewers - sample))
        light = args.viewers - sample - senders
        clients = PipedProcesses()
        for k in range(procs):
            part = Plan(
                host,
                port,
                room,
                light=share(light, procs, k),
                sample=share(sample, procs, k),
                senders=share(senders, procs, k),
                duration=args.duration,
            )
            clients.start(_client_proc, part)
        pipes = clients.pipes
        where = "" if args.url else f" (server: {workers} worker process(es))"
        print(f"connecting {args.viewers} viewers from {procs} process(es){where}...", flush=True)
        ready = [p.recv() for p in pipes]
        connected = sum(r["connected"] for r in ready)
        time.sleep(2.5)  # presence settles, idle RSS
        rss1 = rss_bytes(server_procs)
        stages0 = server_stages.scrape(base)
        cpu0 = cpu_seconds(server_procs)
        redis0 = cpu_seconds(redis_ps)
        busy0 = _busy_cores()
        print(
            f"connected {connected} ({sum(r['failed'] for r in ready)} failed) in "
            f"{max(r['connect_s'] for r in ready):.1f}s; chatting {args.rate} msg/s for "
            f"{args.duration:.0f}s...",
            flush=True,
        )
        t0 = time.monotonic()
        for p in pipes:
            p.send("go")
        done = [p.recv() for p in pipes]
        drained = max(d["drain_s"] for d in done)
        # rates over the window and its last tick, not over the wait for late messages
        full = time.monotonic() - t0  # the CPU figures cover all of it
        wall = full - drained
        cpu1 = cpu_seconds(server_procs)
        redis1 = cpu_seconds(redis_ps)
        busy1 = _busy_cores()
        if workers > 1:
            time.sleep(1.2)  # every worker's /metrics snapshot covers the window
        stages = server_stages.window(stages0, server_stages.scrape(base))
        clients.close(10)
        sent = sum(d["sent"] for d in done)
        lat = [x for d in done for x in d["latencies"]]
        e2e = [x for d in done for x in d["sent_latencies"]]
        to_stamp = [x for d in done for x in d["to_stamp"]]
        samples = sum(d["samples"] for d in done)
        sample_chat = sum(sum(d["sample_chat"]) for d in done)
        per_sample = sample_chat / samples if samples else 0.0
        deliveries = per_sample * connected
        server_cpu = cpu1 - cpu0
        result = {
            "viewers": connected,
            "server_workers": workers,
            "server_processes": len(server_procs),
            "rate_offered": sent / args.duration,
            "accepted_per_s": per_sample / args.duration,
            "deliveries_per_s": deliveries / wall,
            "frames_per_s": sum(d["frames"] for d in done) / wall,
            "mbytes_per_s": sum(d["bytes"] for d in done) / wall / 1e6,
            "drained_s": drained,
            "server_cpu_s": server_cpu,
            "server_cpu_per_1m_deliveries": server_cpu / deliveries * 1e6 if deliveries else None,
            "server_cpu_percent": 100 * server_cpu / full,
            "redis_cpu_percent": 100 * (redis1 - redis0) / full if redis_ps else None,
            "machine_busy_cores": (busy1 - busy0) / full,
            "cores": os.cpu_count() or 1,
            "sent_p50_ms": _pct(e2e, 0.50),
            "sent_p99_ms": _pct(e2e, 0.99),
            "sent_max_ms": max(e2e) if e2e else float("nan"),
            "p50_ms": _pct(lat, 0.50),
            "p99_ms": _pct(lat, 0.99),
            "max_ms": max(lat) if lat else float("nan"),
            "to_stamp_p50_ms": _pct(to_stamp, 0.50),
            "to_stamp_p99_ms": _pct(to_stamp, 0.99),
            "stages": {
                name: {"count": f.count, "p50_ms": f.p50_ms, "p99_ms": f.p99_ms}
                for name, f in stages.items()
            },
            "client_timer_p50_ms": [d["timer_p50_ms"] for d in done],
            "client_timer_p99_ms": [d["timer_p99_ms"] for d in done],
            "gaps": sum(d["gaps"] for d in done),
            "skipped": sum(d["skipped"] for d in done),
            "closed": sum(d["closed"] for d in done),
            "refused": dict(sum((Counter(d["refused"]) for d in done), Counter())),
            "close_codes": [d["close_codes"] for d in done],
            "rss_per_viewer_kib": (rss1 - rss0) / 1024 / connected if connected and rss0 else None,
            "server_rss_mib": rss1 / 2**20 if rss1 else None,
            "client_cpu_percent": [round(100 * d["cpu"] / d["elapsed"]) for d in done],
        }
        return result


def _ms(v: float | None) -> str:
    return "-" if v is None or v != v else f"{v:,.1f}" if v < 10 else f"{v:,.0f}"


STAGE_LINES = (
    ("read_to_stamp", "b  hub got the command -> ts"),
    ("emit_round_trip", "c  emit's Redis round trip (Lua)"),
    ("stamp_to_applied", "d  ts -> applied here"),
    ("applied_to_flush", "e  applied -> room flush starts"),
    ("flush", "f  write loop, per room flush"),
    ("tick", "   tick (every room's flush)"),
    ("tick_late", "   ticker woke late (loop busy)"),
    ("stamp_to_written", "   ts -> tick written (server)"),
)


def report(r: dict[str, Any]) -> str:
    limit = ""
    if max(r["client_cpu_percent"]) > 90:
        limit = "  <- the clients, not the server, were the limit"
    redis = r.get("redis_cpu_percent")
    stages = r["stages"]
    lines = [
        f"viewers                  {r['viewers']} (server: {r['server_workers']} worker "
        f"process(es), {r['server_processes']} processes counted)",
        f"chat offered / accepted  {r['rate_offered']:.0f} / {r['accepted_per_s']:.0f} msg/s"
        + (
            f" (late messages waited for {r['drained_s']:.1f} s after the window)"
            if r["drained_s"]
            else ""
        ),
        f"deliveries               {r['deliveries_per_s']:,.0f} /s "
        f"({r['frames_per_s']:,.0f} frames/s, {r['mbytes_per_s']:.1f} MB/s)",
        f"server CPU               {r['server_cpu_percent']:.0f}% of a core (all server "
        f"processes); {r['server_cpu_per_1m_deliveries'] or float('nan'):.1f} CPU-s per 1M "
        f"deliveries"
        + (f"; Redis {redis:.0f}%" if redis is not None else "")
        + f"; machine {r['machine_busy_cores']:.2f} of {r['cores']} cores busy",
        f"latency, sender's clock  p50 {_ms(r['sent_p50_ms'])} ms, p99 {_ms(r['sent_p99_ms'])} "
        f"ms, max {_ms(r['sent_max_ms'])} ms  (receive - send: what a viewer feels)",
        f"latency, server-stamped  p50 {_ms(r['p50_ms'])} ms, p99 {_ms(r['p99_ms'])} ms, "
        f"max {_ms(r['max_ms'])} ms  (receive - the hub's ts)",
        "stages (p50 / p99 ms)",
        f"  a  send -> ts (viewers)          {_ms(r['to_stamp_p50_ms'])} / "
        f"{_ms(r['to_stamp_p99_ms'])}",
    ]
    if not stages:
        lines.append("     (no server stages: /metrics did not answer in time)")
    for name, label in STAGE_LINES:
        f = stages.get(name)
        if f is None:
            continue
        lines.append(
            f"  {label:<33}{_ms(f['p50_ms'])} / {_ms(f['p99_ms'])}  ({f['count']:,} samples)"
        )
    late = ""
    if max((t for t in r["client_timer_p99_ms"] if t == t), default=0.0) > 50:
        late = "  <- a client process was late to read: its share is in the latencies"
    timers = ", ".join(
        f"{_ms(a)}/{_ms(b)}"
        for a, b in zip(r["client_timer_p50_ms"], r["client_timer_p99_ms"], strict=True)
    )
    lines += [
        f"  g  client delay (10 ms timer)    {timers} per process{late}",
        f"dropped                  gaps {r['gaps']}, skipped (reported) {r['skipped']}, "
        f"closed {r['closed']}; chat refused by the server: "
        + (", ".join(f"{n} {code}" for code, n in sorted(r["refused"].items())) or "none"),
        f"server RSS per viewer    {r['rss_per_viewer_kib'] or float('nan'):.1f} KiB (idle; "
        f"all server processes, {r['server_rss_mib'] or float('nan'):,.0f} MiB in all)",
        f"client CPU               {r['client_cpu_percent']} % per process{limit}",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """``python -m bench`` (``--scenario chat``): run, print the figures."""
    result = run(args)
    print(report(result))
    if args.json:
        print(json.dumps(result))
    return 0
