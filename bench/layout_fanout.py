"""Multi-node benchmark: one room spread over the layout's nodes; figures, not a test.

    python -m bench.layout_fanout --nodes 3 --workers 2 --viewers 1500 --rate 100

It starts ``livecart.loadtest.layout`` (nginx, ``--nodes`` nodes of ``--workers``
processes, Redis), creates one room and, per node, one client process (the chat
benchmark's own, ``bench.chat_fanout``) that connects its share of the viewers, samples and
senders straight to that node's port, so every figure belongs to one node (nginx's round
robin spreads a real crowd the same way; the layout tests prove the path through nginx).
The senders, spread over the nodes, chat ``--rate`` messages a second in total. It
prints per node: viewers, chat delivery p50/p99/max (sample viewers, send to receive
on the same clock), gaps, and the node's CPU (supervisor and workers); and Redis' CPU
(every redis-server of the layout: one, or each cluster node).

Video (``--video-viewers``): runs when video is relayed between processes
(``relay_available()``), or when the layout is one process (``--nodes 1 --workers 1``),
where the origin serves everyone itself. A synthetic WHIP publisher (``loadtest.
publisher``) publishes to node1 (the origin's node); video viewers are spread over the
nodes; per node it prints behind-live p50/p99 (fragment produced -> received) and CPU
per video viewer (node CPU with viewers minus with the publisher alone, per viewer).
Without the relay it says so and runs the chat part only.

Only 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import secrets
import sys
import time
from typing import Any

import psutil

from bench.chat_fanout import Plan, _client_proc, _pct
from bench.localserver import http_json
from livecart.loadtest.client_pool import PipedProcesses, run_on_uvloop, share
from livecart.loadtest.layout import Layout, LayoutNode, layout
from livecart.loadtest.wsclient import VideoViewer, connect, raise_fd_limit

RELAY_MODULES = ("livecart.streamer.relay",)


def relay_available() -> bool:
    """Whether this tree relays video between processes (the module the relay work
    adds); until then only the publisher's own process serves video."""
    return any(importlib.util.find_spec(name) is not None for name in RELAY_MODULES)


def node_cpu(node: LayoutNode) -> float:
    total = 0.0
    for proc in node.processes():
        with contextlib.suppress(Exception):
            t = proc.cpu_times()
            total += t.user + t.system
    return total


def redis_cpu() -> float:
    """Seconds of CPU used so far by every redis-server this process started (the
    layout's server, or each node of its cluster)."""
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if proc.name().startswith("redis-server"):
                t = proc.cpu_times()
                total += t.user + t.system
    return total


# -- chat --------------------------------------------------------------------------------


def run_chat(lay: Layout, args: argparse.Namespace) -> dict[str, Any]:
    room = "layout-bench-" + secrets.token_hex(3)
    http_json(
        f"{lay.nodes[0].url}/api/rooms", {"id": room, "title": "bench", "host": "bench"}, lay.admin
    )
    n = len(lay.nodes)
    sample = min(args.sample, args.viewers)
    senders = min(args.rate, max(0, args.viewers - sample))
    light = args.viewers - sample - senders
    clients = PipedProcesses()
    for k, node in enumerate(lay.nodes):
        plan = Plan(
            "127.0.0.1",
            node.port,
            room,
            light=share(light, n, k),
            sample=share(sample, n, k),
            senders=share(senders, n, k),
            duration=args.duration,
        )
        clients.start(_client_proc, plan)
    pipes = clients.pipes
    print(f"connecting {args.viewers} viewers over {n} nodes...", flush=True)
    ready = [p.recv() for p in pipes]
    time.sleep(2.5)  # presence settles
    cpu0 = [node_cpu(node) for node in lay.nodes]
    rcpu0 = redis_cpu()
    print(f"chatting {args.rate} msg/s for {args.duration:.0f}s...", flush=True)
    t0 = time.monotonic()
    for p in pipes:
        p.send("go")
    done = [p.recv() for p in pipes]
    wall = time.monotonic() - t0
    cpu1 = [node_cpu(node) for node in lay.nodes]
    rcpu1 = redis_cpu()
    clients.close(10)
    per_node = []
    for node, r, d, c0, c1 in zip(lay.nodes, ready, done, cpu0, cpu1, strict=True):
        lat = d["latencies"]
        per_node.append(
            {
                "node": node.name,
                "viewers": r["connected"],
                "failed": r["failed"],
                "sent": d["sent"],
                "p50_ms": _pct(lat, 0.50),
                "p99_ms": _pct(lat, 0.99),
                "max_ms": max(lat) if lat else float("nan"),
                "gaps": d["gaps"],
                "skipped": d["skipped"],
                "closed": d["closed"],
                "cpu_percent": 100 * (c1 - c0) / wall,
                "client_cpu_percent": round(100 * d["cpu"] / d["elapsed"]),
            }
        )
    every = [x for d in done for x in d["latencies"]]
    return {
        "nodes": per_node,
        "rate_offered": sum(d["sent"] for d in done) / args.duration,
        "p99_ms": _pct(every, 0.99),
        "redis_cpu_percent": 100 * (rcpu1 - rcpu0) / wall,
    }


# -- video -------------------------------------------------------------------------------


def _video_proc(port: int, room: str, viewers: int, seconds: float, conn: Any) -> None:
    run_on_uvloop(_video_main(port, room, viewers, seconds, conn))


async def _video_main(port: int, room: str, viewers: int, seconds: float, conn: Any) -> None:
    delays: list[float] = []
    path = f"/ws/video/{room}"

    async def opened(_v: VideoViewer) -> None:
        return None

    got = await asyncio.gather(
        *(
            connect("127.0.0.1", port, lambda: VideoViewer(path, True, delays), 30.0, opened)
            for _ in range(viewers)
        ),
        return_exceptions=True,
    )
    live = [v for v in got if isinstance(v, VideoViewer)]
    conn.send({"connected": len(live)})
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # "go"
    delays.clear()
    await asyncio.sleep(seconds)
    conn.send({"delays": list(delays), "live": sum(v.status == "live" for v in live)})
    for v in live:
        v.close()
    await asyncio.sleep(0.2)


def run_video(lay: Layout, args: argparse.Namespace) -> dict[str, Any]:
    from livecart.loadtest.publisher import publisher_main

    room = "layout-video-" + secrets.token_hex(3)
    origin = lay.nodes[0]
    made = http_json(
        f"{origin.url}/api/rooms", {"id": room, "title": "video", "host": "bench"}, lay.admin
    )
    pub = PipedProcesses()
    pub.start(publisher_main, origin.url, room, made["host_token"], args.duration + 120)
    hello = pub.pipes[0].recv()
    if not hello.get("ok"):
        pub.close(5)
        raise RuntimeError(f"publisher failed: {hello}")
    time.sleep(3.0)  # first keyframes; the publisher alone
    cpu0 = [node_cpu(node) for node in lay.nodes]
    t0 = time.monotonic()
    time.sleep(5.0)
    baseline = [
        (node_cpu(node) - c) / (time.monotonic() - t0)
        for node, c in zip(lay.nodes, cpu0, strict=True)
    ]
    clients = PipedProcesses()
    n = len(lay.nodes)
    for k, node in enumerate(lay.nodes):
        clients.start(_video_proc, node.port, room, share(args.video_viewers, n, k), args.duration)
    ready = [p.recv() for p in clients.pipes]
    time.sleep(2.0)
    cpu0 = [node_cpu(node) for node in lay.nodes]
    rcpu0 = redis_cpu()
    t0 = time.monotonic()
    for p in clients.pipes:
        p.send("go")
    done = [p.recv() for p in clients.pipes]
    wall = time.monotonic() - t0
    cpu1 = [node_cpu(node) for node in lay.nodes]
    rcpu1 = redis_cpu()
    clients.close(10)
    pub.close(10)
    per_node = []
    for k, node in enumerate(lay.nodes):
        viewers = ready[k]["connected"]
        cpu = (cpu1[k] - cpu0[k]) / wall
        per_node.append(
            {
                "node": node.name + (" (origin's node)" if k == 0 else ""),
                "viewers": viewers,
                "live": done[k]["live"],
                "behind_p50_ms": _pct(done[k]["delays"], 0.50),
                "behind_p99_ms": _pct(done[k]["delays"], 0.99),
                "cpu_percent": 100 * cpu,
                "cpu_ms_per_viewer_s": 1000 * (cpu - baseline[k]) / viewers if viewers else None,
            }
        )
    return {"nodes": per_node, "redis_cpu_percent": 100 * (rcpu1 - rcpu0) / wall}


def report(chat: dict[str, Any], video: dict[str, Any] | None, note: str) -> str:
    lines = [
        f"chat: one room, {chat['rate_offered']:.0f} msg/s offered; "
        f"p99 over all nodes {chat['p99_ms']:.0f} ms; Redis CPU {chat['redis_cpu_percent']:.0f}%",
        "  node    viewers  p50 ms  p99 ms  max ms  gaps  node CPU  client CPU",
    ]
    for r in chat["nodes"]:
        lines.append(
            f"  {r['node']:<7} {r['viewers']:>7}  {r['p50_ms']:>6.0f}  {r['p99_ms']:>6.0f}  "
            f"{r['max_ms']:>6.0f}  {r['gaps']:>4}  {r['cpu_percent']:>7.0f}%  "
            f"{r['client_cpu_percent']:>9}%"
        )
    if video is None:
        lines.append(f"video: {note}")
    else:
        lines.append(f"video: Redis CPU {video['redis_cpu_percent']:.0f}%")
        lines.append(
            "  node                   viewers  live  behind p50  p99 ms  CPU  ms CPU/viewer/s"
        )
        for r in video["nodes"]:
            per = r["cpu_ms_per_viewer_s"]
            lines.append(
                f"  {r['node']:<22} {r['viewers']:>7}  {r['live']:>4}  "
                f"{r['behind_p50_ms']:>10.0f}  {r['behind_p99_ms']:>6.0f}  "
                f"{r['cpu_percent']:>3.0f}%  {per if per is None else round(per, 3)}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.layout_fanout", description=__doc__)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--viewers", type=int, default=1500)
    p.add_argument("--rate", type=int, default=100, help="chat messages per second offered")
    p.add_argument("--sample", type=int, default=150, help="viewers that measure latency")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--video-viewers", type=int, default=0)
    args = p.parse_args(argv)
    raise_fd_limit()
    with layout(args.nodes, args.workers) as lay:
        chat = run_chat(lay, args)
        video = None
        note = "not asked (--video-viewers N)"
        if args.video_viewers:
            if relay_available() or (args.nodes == 1 and args.workers == 1):
                video = run_video(lay, args)
            else:
                note = (
                    "skipped: video is not relayed between processes in this tree "
                    f"({' / '.join(RELAY_MODULES)} missing); only the publisher's process "
                    "could serve it"
                )
    print(report(chat, video, note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
