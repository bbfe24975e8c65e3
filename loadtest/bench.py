"""``livecart bench``: one room, N viewers, R chat messages a second; figures, not a test.

It starts its own Redis and one server process (unless ``--url`` is given), creates a
room, connects N viewers from ``--procs`` client processes (light viewers count frames;
``--sample`` of them decode everything and measure latency and gaps), lets ``--rate``
senders each chat once a second for ``--duration`` seconds, and prints:
offered and accepted messages/s, deliveries/s, frames/s, server CPU-seconds per 1M
deliveries, p50/p99 delivery latency, server RSS per idle viewer, and the clients' own
CPU so that a saturated generator is not mistaken for a slow server.

``--scenario flash-sale`` is the checkout benchmark instead (``loadtest.flashbench``);
``--scenario reserve`` measures the checkout service alone (``loadtest.reservebench``).

Only 127.0.0.1 is ever targeted; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from livecart.loadtest.client_pool import PipedProcesses, run_on_uvloop, share
from livecart.loadtest.localserver import http_json, local_server
from livecart.loadtest.target import Target
from livecart.loadtest.viewer_groups import SAMPLE, SENDER, connect_groups
from livecart.loadtest.wsclient import (
    JSON,
    MSGPACK,
    Viewer,
    ViewerStats,
    open_viewer,
    raise_fd_limit,
)


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
    sent = 0
    # Each sender chats once a second, the senders spread evenly over the second.
    step = 1.0 / max(1, len(senders))
    next_at = start
    i = 0
    while senders and time.monotonic() - start < plan.duration:
        now = time.monotonic()
        if now < next_at:
            await asyncio.sleep(next_at - now)
        senders[i % len(senders)].send({"id": sent, "cmd": "chat", "text": f"msg {sent} hi!"})
        sent += 1
        i += 1
        next_at += step
    if not senders:
        await asyncio.sleep(plan.duration)
    await asyncio.sleep(1.0)  # let the last tick arrive
    for v in samples:
        v.measuring = False
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
            "gaps": sample_stats.gaps,
            "skipped": sample_stats.skipped + stats.skipped,
            "closed": stats.closed + sample_stats.closed,
            "close_codes": {**stats.close_codes, **sample_stats.close_codes},
            "cpu": cpu,
            "elapsed": time.monotonic() - start,
        }
    )
    for v in everyone:
        v.close()
    await asyncio.sleep(0.2)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    with contextlib.ExitStack() as stack:
        if args.url:
            base = Target.parse(args.url).base  # 127.0.0.1 only
            admin = args.admin_token
            server_ps = None
        else:
            server = stack.enter_context(local_server(appendfsync="everysec"))
            base, admin, server_ps = server.base, server.admin, server.ps
        room = "bench-" + secrets.token_hex(3)
        http_json(f"{base}/api/rooms", {"id": room, "title": "bench", "host": "bench"}, admin)
        parsed = urlparse(base)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
        rss0 = server_ps.memory_info().rss if server_ps else 0
        procs = max(1, args.procs or 1)
        sample = min(args.sample, args.viewers)
        senders = min(args.rate, max(0, args.viewers - sample))
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
        print(f"connecting {args.viewers} viewers from {procs} process(es)...", flush=True)
        ready = [p.recv() for p in pipes]
        connected = sum(r["connected"] for r in ready)
        time.sleep(2.5)  # presence settles, idle RSS
        rss1 = server_ps.memory_info().rss if server_ps else 0
        cpu0 = sum(server_ps.cpu_times()[:2]) if server_ps else 0.0
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
        wall = time.monotonic() - t0
        cpu1 = sum(server_ps.cpu_times()[:2]) if server_ps else 0.0
        clients.close(10)
        sent = sum(d["sent"] for d in done)
        lat = [x for d in done for x in d["latencies"]]
        samples = sum(d["samples"] for d in done)
        sample_chat = sum(sum(d["sample_chat"]) for d in done)
        per_sample = sample_chat / samples if samples else 0.0
        deliveries = per_sample * connected
        server_cpu = cpu1 - cpu0
        result = {
            "viewers": connected,
            "rate_offered": sent / args.duration,
            "accepted_per_s": per_sample / args.duration,
            "deliveries_per_s": deliveries / wall,
            "frames_per_s": sum(d["frames"] for d in done) / wall,
            "mbytes_per_s": sum(d["bytes"] for d in done) / wall / 1e6,
            "server_cpu_s": server_cpu,
            "server_cpu_per_1m_deliveries": server_cpu / deliveries * 1e6 if deliveries else None,
            "server_cpu_percent": 100 * server_cpu / wall,
            "p50_ms": _pct(lat, 0.50),
            "p99_ms": _pct(lat, 0.99),
            "max_ms": max(lat) if lat else float("nan"),
            "gaps": sum(d["gaps"] for d in done),
            "skipped": sum(d["skipped"] for d in done),
            "closed": sum(d["closed"] for d in done),
            "close_codes": [d["close_codes"] for d in done],
            "rss_per_viewer_kib": (rss1 - rss0) / 1024 / connected if connected and rss0 else None,
            "client_cpu_percent": [round(100 * d["cpu"] / d["elapsed"]) for d in done],
        }
        return result


def report(r: dict[str, Any]) -> str:
    limit = ""
    if max(r["client_cpu_percent"]) > 90:
        limit = "  <- the clients, not the server, were the limit"
    return "\n".join(
        [
            f"viewers                  {r['viewers']}",
            f"chat offered / accepted  {r['rate_offered']:.0f} / {r['accepted_per_s']:.0f} msg/s",
            f"deliveries               {r['deliveries_per_s']:,.0f} /s "
            f"({r['frames_per_s']:,.0f} frames/s, {r['mbytes_per_s']:.1f} MB/s)",
            f"server CPU               {r['server_cpu_percent']:.0f}% of a core; "
            f"{r['server_cpu_per_1m_deliveries'] or float('nan'):.1f} CPU-s per 1M deliveries",
            f"delivery latency         p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, "
            f"max {r['max_ms']:.0f} ms",
            f"dropped                  gaps {r['gaps']}, skipped (reported) {r['skipped']}, "
            f"closed {r['closed']}",
            f"server RSS per viewer    {r['rss_per_viewer_kib'] or float('nan'):.1f} KiB (idle)",
            f"client CPU               {r['client_cpu_percent']} % per process{limit}",
        ]
    )


def main(args: argparse.Namespace) -> int:
    if args.scenario == "flash-sale":
        from livecart.loadtest import flashbench

        return flashbench.main(args)
    if args.scenario == "auction":
        from livecart.loadtest import auction_storm

        return auction_storm.bench_main(args)
    if args.scenario == "reserve":
        from livecart.loadtest import reservebench

        return reservebench.main(args)
    result = run(args)
    print(report(result))
    if args.json:
        print(json.dumps(result))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="benchmarks: chat fan-out (default) or a flash sale")
    p.add_argument("--scenario", choices=("chat", "flash-sale", "reserve", "auction"),
                   default="chat",
                   help="chat: one room, N viewers, R chat/s; flash-sale: N viewers press "
                   "buy within one second on a --units sale; reserve: the checkout service "
                   "alone, N buys at once, batched and one call per buy; auction: N viewers, "
                   "--bidders of them bidding in the auction's last 2 s")  # fmt: skip
    p.add_argument("--bidders", type=int, default=1000, help="auction: bidders in the storm")
    p.add_argument("--viewers", type=int, default=2000)
    p.add_argument("--rate", type=int, default=200, help="chat messages per second offered")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--procs", type=int, default=None,
                   help="client processes (chat: 1; flash-sale: one per core)")  # fmt: skip
    p.add_argument("--units", type=int, default=100, help="flash-sale: units on sale")
    p.add_argument(
        "--appendfsync",
        choices=("always", "everysec", "no"),
        default="always",
        help="flash-sale, reserve: the private Redis' AOF fsync policy (orders rely on always)",
    )
    p.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="flash-sale: processes of the server it starts (livecart serve --workers)",
    )
    p.add_argument("--rounds", type=int, default=3, help="reserve: rounds of each mode")
    p.add_argument("--sample", type=int, default=100, help="viewers that decode and measure")
    p.add_argument("--url", help="bench a running server (127.0.0.1 only) instead")
    p.add_argument("--admin-token", default=os.environ.get("LIVECART_ADMIN_TOKEN"))
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    p.set_defaults(handler=main)
