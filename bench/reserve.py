"""``python -m bench --scenario reserve``: the checkout service alone, N buys at once.

No WebSocket and no server process: one ``CheckoutService`` in this process, on a
private Redis (AOF ``appendfsync always`` unless ``--appendfsync`` says otherwise), sends
``--viewers`` buys from as many buyers all at once on a ``--units`` sale (limit 1). It
does so with buys batched per room (up to 200 per Redis call, the default) and with each
buy sent on its own (``reserve_batch=1``), ``--rounds`` times each in a fresh room, and
prints for each round: buys per second, the node's and Redis' CPU per buy, p50/p99 time
to the reply, the Redis calls made, and the books (sold out exactly, nothing oversold,
``audit`` clean). It measures the cost of deciding a buy, which is what a flash sale
adds to a node; ``--scenario flash-sale`` measures the whole path through WebSockets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from pathlib import Path
from typing import Any

from bench.localserver import private_redis
from livecart.checkout.errors import CheckoutError
from livecart.checkout.sandbox import SandboxProvider
from livecart.checkout.service import CheckoutService
from livecart.redis_client import redis_client

MODES = (("batched", 200), ("one call per buy", 1))


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of process ``pid`` (Linux ``/proc``), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _round(url: str, redis_pid: int, n: int, units: int, batch: int) -> dict[str, Any]:
    client = redis_client(url)
    svc = CheckoutService(client, SandboxProvider(), reserve_batch=batch)
    room = "bench-" + secrets.token_hex(4)
    try:
        await svc.init_stock(room, "p1", units)
        await svc.open_sale(room, "p1", price=100, currency="EUR", units=units, limit=1)
        await client.ping()  # one pooled connection ready, like a running node
        times: list[float] = []
        outcomes: dict[str, int] = {}

        async def buy(i: int) -> None:
            t = time.perf_counter()
            try:
                await svc.buy(room, "p1", buyer_vid=f"v{i}", buyer_name="Buyer", qty=1,
                              key=f"bench-{room}-{i:07d}")  # fmt: skip
                code = "reserved"
            except CheckoutError as exc:
                code = exc.code
            times.append(time.perf_counter() - t)
            outcomes[code] = outcomes.get(code, 0) + 1

        redis_cpu0, cpu0, t0 = _cpu_seconds(redis_pid), time.process_time(), time.perf_counter()
        await asyncio.gather(*(buy(i) for i in range(n)))
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        redis_cpu1 = _cpu_seconds(redis_pid)
        stock = (await svc.stock(room))["p1"]
        problems = await svc.audit(room)
    finally:
        await client.aclose()
    times.sort()
    calls, sent = svc.reserve_counts()
    redis_us = None
    if redis_cpu0 is not None and redis_cpu1 is not None:
        redis_us = (redis_cpu1 - redis_cpu0) / n * 1e6
    return {
        "buys": n,
        "buys_per_s": n / wall,
        "node_cpu_us": cpu / n * 1e6,
        "redis_cpu_us": redis_us,
        "p50_ms": times[n // 2] * 1000,
        "p99_ms": times[min(n - 1, int(n * 0.99))] * 1000,
        "calls": calls,
        "sent": sent,
        "outcomes": outcomes,
        "books_ok": not problems and stock["reserved"] == units and stock["available"] == 0,
        "problems": problems,
    }


def _line(mode: str, r: dict[str, Any]) -> str:
    redis = "-" if r["redis_cpu_us"] is None else f"{r['redis_cpu_us']:.0f} us"
    books = "balanced" if r["books_ok"] else "FAILED " + "; ".join(r["problems"])
    return (
        f"{mode:<17} {r['buys_per_s']:>8,.0f}/s  node {r['node_cpu_us']:>4.0f} us/buy  "
        f"redis {redis:>6}/buy  p50 {r['p50_ms']:>5.0f} ms  p99 {r['p99_ms']:>5.0f} ms  "
        f"{r['calls']:>5} calls  {r['outcomes']}  books {books}"
    )


def main(args: argparse.Namespace) -> int:
    n, units = args.viewers, args.units
    if n < 1 or units < 1:
        raise SystemExit("--viewers and --units must be at least 1")
    print(f"reserve: {n} buys at once on a {units}-unit sale, one node, no WebSocket, "
          f"appendfsync {args.appendfsync}")  # fmt: skip
    ok = True
    with private_redis(args.appendfsync) as redis:
        pid = int(redis.pidfile.read_text())
        for _ in range(max(1, args.rounds)):
            for mode, batch in MODES:
                r = asyncio.run(_round(redis.url, pid, n, units, batch))
                ok = ok and r["books_ok"] and sum(r["outcomes"].values()) == n
                print(_line(mode, r), flush=True)
    return 0 if ok else 1
