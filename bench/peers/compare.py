"""``python -m bench.peers`` (``make bench-peers``): livecart next to python-socketio.

The same fan-out workload against both servers on this machine, in one run: one room,
N viewers (1,000 and 5,000), R chat messages a second sent by viewers of the room.
Each server runs as one process with uvloop on its own Redis (``appendfsync
everysec``): ``livecart serve`` and ``bench.peers.socketio_server`` (AsyncServer on
aiohttp with ``AsyncRedisManager``). For each server and N, a fresh server process:

1. N viewers connect (``bench.peers.fanout``); server RSS before and after, idle,
   gives the RSS per viewer;
2. chat steps of ``--step`` seconds search the highest rate at which the p99 delivery
   latency (server timestamp to sample viewer) stays under 250 ms with at least 99 %
   of the messages delivered and no viewer dropped: doubling from ``--start-rate``
   until a step fails, then bisecting, at most ``--max-steps`` steps;
3. at the highest passing rate: deliveries (messages x viewers, counted by sample
   viewers) per CPU-second of the server process.

It prints one markdown table with both servers and the ratio, and the command that made
it. The whole run is bounded by ``--budget`` seconds; what did not fit is marked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from bench import python_m
from bench.localserver import http_json, private_redis, serve_argv, spawn_server
from bench.peers.fanout import LIVECART, SOCKETIO, FanoutPlan, fanout_main
from bench.peers.table import fmt, table
from livecart.loadtest.client_pool import PipedProcesses, share
from livecart.loadtest.stats import Histogram
from livecart.loadtest.wsclient import raise_fd_limit
from livecart.redis_process import free_port

P99_LIMIT_MS = 250.0
MIN_DELIVERED = 0.99
SAMPLES = 50


def socketio_argv(port: int, redis_url: str) -> list[str]:
    """The command line of the python-socketio peer server on ``port``."""
    return [
        *python_m("bench.peers.socketio_server"),
        "--port",
        str(port),
        "--redis-url",
        redis_url,
    ]


@contextlib.contextmanager
def start_server(kind: str, redis_url: str) -> Iterator[tuple[int, psutil.Process, str | None]]:
    """A fresh server process of ``kind`` on a free port: (port, process, admin token)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="livecart-peers-") as tmp:
        if kind == LIVECART:
            admin = "adm_peers_" + secrets.token_hex(8)
            argv = serve_argv(port, redis_url, admin, tmp)
            health = f"http://127.0.0.1:{port}/healthz"
        else:
            admin = None
            argv = socketio_argv(port, redis_url)
            health = f"http://127.0.0.1:{port}/healthz"
        with spawn_server(argv, health, Path(tmp) / "server.log") as proc:
            yield port, psutil.Process(proc.pid), admin


def _busy(before: Any, after: Any) -> int:
    """How busy the whole machine was between two ``psutil.cpu_times()``, % of all cores."""
    total = sum(after) - sum(before)
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    return round(100 * (1 - idle / total)) if total > 0 else 0


def _cpu(ps: psutil.Process) -> float:
    t = ps.cpu_times()
    return float(t.user + t.system)


class Clients:
    """N viewers over ``procs`` client processes, driven step by step."""

    def __init__(self, kind: str, port: int, room: str, viewers: int, procs: int) -> None:
        sample = min(SAMPLES, viewers)
        senders = max(0, viewers - sample)
        self.processes = PipedProcesses()
        self.pipes = self.processes.pipes
        self.senders = senders
        for k in range(procs):
            plan = FanoutPlan(
                kind,
                "127.0.0.1",
                port,
                room,
                light=0,
                sample=share(sample, procs, k),
                senders=share(senders, procs, k),
                index=k,
            )
            self.processes.start(fanout_main, plan)

    def connected(self, timeout: float) -> dict[str, Any]:
        answers = [self._recv(p, timeout) for p in self.pipes]
        return {
            "connected": sum(a["connected"] for a in answers),
            "failed": sum(a["failed"] for a in answers),
            "connect_s": max(a["connect_s"] for a in answers),
        }

    @staticmethod
    def _recv(pipe: Connection, timeout: float) -> dict[str, Any]:
        if not pipe.poll(timeout):
            raise TimeoutError("a client process did not answer")
        answer: dict[str, Any] = pipe.recv()
        return answer

    def step(self, rate: float, seconds: float) -> list[dict[str, Any]]:
        for p in self.pipes:
            p.send({"cmd": "step", "rate": rate / len(self.pipes), "seconds": seconds})
        return [self._recv(p, seconds + 30) for p in self.pipes]

    def drain(self, quiet: float, timeout: float) -> bool:
        """Wait until no client has received anything for ``quiet`` seconds."""
        for p in self.pipes:
            p.send({"cmd": "drain", "quiet": quiet, "timeout": timeout})
        return all(self._recv(p, timeout + 30)["drained"] for p in self.pipes)

    def close(self) -> None:
        self.processes.tell({"cmd": "stop"})
        self.processes.close(10)


def judge(parts: list[dict[str, Any]], viewers: int, cpu_s: float) -> dict[str, Any]:
    """One step's figures from the client processes' answers (pure)."""
    hist = Histogram()
    for part in parts:
        hist.merge(part["lat"])
    sent = sum(p["sent"] for p in parts)
    samples = sum(p["samples"] for p in parts)
    received = sum(p["sample_chat"] for p in parts)
    per_sample = received / samples if samples else 0.0
    sending = max(p["sending_s"] for p in parts)
    elapsed = max(p["elapsed"] for p in parts)
    deliveries = per_sample * viewers
    delivered = per_sample / sent if sent else 0.0
    p99 = hist.percentile(0.99)
    closed = sum(p["closed"] for p in parts)
    client_cpu = [round(100 * p["cpu_sending"] / max(p["sending_s"], 0.001)) for p in parts]
    ok = p99 is not None and p99 < P99_LIMIT_MS and delivered >= MIN_DELIVERED and not closed
    return {
        "rate": round(sent / sending, 1) if sending else 0.0,
        "sent": sent,
        "p50_ms": hist.percentile(0.5),
        "p99_ms": p99,
        "delivered": round(delivered, 4),
        "deliveries_per_s": round(deliveries / elapsed),
        "server_cpu_s": round(cpu_s, 3),
        "server_cpu_percent": round(100 * cpu_s / elapsed),
        "deliveries_per_cpu_s": round(deliveries / cpu_s) if cpu_s > 0 else None,
        "closed": closed,
        "client_cpu_percent": client_cpu,
        "client_saturated": max(client_cpu) >= 80,
        "ok": ok,
    }


def next_rate(lo: float | None, hi: float | None, rate: float, cap: float) -> float | None:
    """The next rate to try (``None``: done): double until a failure, halve until a
    pass, then bisect until the bounds are within 25 % (pure)."""
    if lo is not None and hi is not None:
        middle = float(round(math.sqrt(lo * hi)))
        return None if hi / lo <= 1.25 or middle in (lo, hi) else middle
    if hi is None:
        return None if rate >= cap else min(cap, rate * 2)
    return None if rate <= 1 else max(1.0, round(rate / 2))


def measure(
    kind: str,
    redis_url: str,
    viewers: int,
    args: argparse.Namespace,
    deadline: float,
    common_rate: float | None = None,
    start_rate: float | None = None,
) -> dict[str, Any]:
    """Search the server's max rate for ``viewers`` from ``start_rate``; with
    ``common_rate``, also run one step at that rate (the other server's max) to compare
    costs on equal work."""
    result: dict[str, Any] = {"server": kind, "viewers": viewers, "steps": []}
    with start_server(kind, redis_url) as (port, ps, admin):
        room = "peers-" + secrets.token_hex(3)
        if kind == LIVECART:
            http_json(
                f"http://127.0.0.1:{port}/api/rooms",
                {"id": room, "title": "peers", "host": "peers"},
                admin,
            )
        time.sleep(0.5)
        rss0 = ps.memory_info().rss
        clients = Clients(kind, port, room, viewers, args.procs)
        try:
            result.update(clients.connected(timeout=120))
            time.sleep(2.0)  # presence settles, buffers drain: idle RSS
            rss1 = ps.memory_info().rss
            connected = result["connected"] or 1
            result["rss_per_viewer_kib"] = round((rss1 - rss0) / 1024 / connected, 1)
            cap = float(min(clients.senders, args.max_rate))
            lo: float | None = None
            hi: float | None = None
            rate: float | None = float(min(start_rate or args.start_rate, cap))
            for _ in range(args.max_steps):
                if rate is None or time.monotonic() + args.step + 10 > deadline:
                    break
                cpu0, machine0 = _cpu(ps), psutil.cpu_times()
                parts = clients.step(rate, args.step)
                step = judge(parts, result["connected"], _cpu(ps) - cpu0)
                step["asked"] = rate
                step["machine_busy_percent"] = _busy(machine0, psutil.cpu_times())
                result["steps"].append(step)
                print(
                    f"  {kind:16} N={viewers:<5} {rate:6.0f} msg/s: p99 "
                    f"{fmt(step['p99_ms'])} ms, delivered {100 * step['delivered']:.1f} %, "
                    f"server CPU {step['server_cpu_percent']} %, clients "
                    f"{step['client_cpu_percent']} %, machine {step['machine_busy_percent']} % "
                    f"busy -> {'pass' if step['ok'] else 'fail'}",
                    flush=True,
                )
                if step["ok"]:
                    lo = rate
                else:
                    hi = rate
                rate = next_rate(lo, hi, rate, cap)
                # An overloaded server is still sending this step's messages: wait for
                # quiet before the next step, or stop (its figures would be polluted).
                budget = min(30.0, max(1.0, deadline - time.monotonic() - 10))
                if not clients.drain(quiet=1.0, timeout=budget):
                    result["backlog"] = f"still sending {budget:.0f}s after a step"
                    rate = None
                    break
            result["max_rate"] = lo
            result["cap"] = cap
            result["searched_to_end"] = rate is None and "backlog" not in result
            passing = [s for s in result["steps"] if s["ok"] and s["asked"] == lo]
            best = passing[-1] if passing else None
            result["at_max"] = best
            edge = [s for s in result["steps"] if s["asked"] in (lo, hi)]
            result["client_limited"] = any(s["client_saturated"] for s in edge)
            # Server, clients, Redis and the kernel's loopback work share the cores.
            result["machine_bound"] = any(s["machine_busy_percent"] >= 85 for s in edge)
            result["capped"] = lo is not None and lo >= cap
            if common_rate and time.monotonic() + args.step + 10 < deadline:
                cpu0 = _cpu(ps)
                parts = clients.step(min(common_rate, cap), args.step)
                same = judge(parts, result["connected"], _cpu(ps) - cpu0)
                same["asked"] = common_rate
                result["at_common"] = same
                print(
                    f"  {kind:16} N={viewers:<5} {common_rate:6.0f} msg/s (equal work with "
                    "the peer): "
                    f"{fmt(same['deliveries_per_cpu_s'])} deliveries per CPU-second",
                    flush=True,
                )
        finally:
            clients.close()
    return result


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    raise_fd_limit()
    deadline = time.monotonic() + args.budget
    results = []
    with private_redis("everysec") as redis:
        found: dict[str, tuple[int, float]] = {}  # server -> (N, max rate) so far
        for n in args.viewers:
            # The peer first: livecart then also runs a step at the peer's max rate.
            common: float | None = None
            for kind in (SOCKETIO, LIVECART):
                if time.monotonic() + 30 > deadline:
                    results.append({"server": kind, "viewers": n, "skipped": "time budget"})
                    continue
                print(f"{kind}: {n} viewers...", flush=True)
                # Start where the last room size left off, at the same deliveries/s.
                start = None
                if kind in found:
                    prev_n, prev_rate = found[kind]
                    start = max(1.0, float(round(prev_rate * prev_n / n)))
                res = measure(kind, redis.url, n, args, deadline, common, start)
                results.append(res)
                # Equal work for livecart: the peer's max rate, or its lowest rate tried
                # when none passed.
                tried = [st["asked"] for st in res.get("steps", [])]
                common = res.get("max_rate") or (min(tried) if tried else None)
                if res.get("max_rate"):
                    found[kind] = (n, res["max_rate"])
    return results


def main(args: argparse.Namespace) -> int:
    results = run(args)
    command = "make bench-peers" if args.make else "python -m bench.peers " + " ".join(sys.argv[1:])
    print()
    print(table(results, command))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"\nfigures: {args.json}")
    return 0


def parser() -> argparse.ArgumentParser:
    """``python -m bench.peers``: the same chat fan-out on livecart and python-socketio."""
    p = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    p.add_argument("--viewers", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--procs", type=int, default=1, help="client processes")
    p.add_argument("--step", type=float, default=4.0, help="seconds per rate step")
    p.add_argument("--start-rate", type=float, default=40.0)
    p.add_argument("--max-rate", type=float, default=1600.0)
    p.add_argument("--max-steps", type=int, default=7, help="rate steps per server and N")
    p.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument("--make", action="store_true", help=argparse.SUPPRESS)
    return p
