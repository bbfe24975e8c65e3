"""``python -m bench --scenario flash-sale``: N viewers press "buy" within one second.

It starts a private Redis (AOF ``appendfsync always``, the embedded default that
orders rely on) and one server process, like the chat benchmark, and runs the
``flash-sale`` load test against them: a product with ``--units`` units (100), pinned,
a sale that opens 2 s after every viewer has joined, every viewer pressing buy once at a
random moment in the sale's first second (retrying with the same key on
``unavailable``), every holder paying with the sandbox card. Then it prints the time
to a definite buy reply (p50/p99), reservations and replies per second, and the final
check of the books through the server's API: sold, oversold, orders.

Target: every viewer gets a definite reply, p99 under 500 ms, 0 oversold.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
from typing import Any

from bench.localserver import local_server
from livecart.loadtest import runner
from livecart.loadtest.target import Target

TARGET_P99_MS = 500.0


def loadtest_args(args: argparse.Namespace, url: str, admin: str | None) -> argparse.Namespace:
    """The load test's arguments for the benchmark's flash sale (parsed by the load
    test's own parser, so every option has its default)."""
    parser = argparse.ArgumentParser(prog="livecart")
    runner.add_parser(parser.add_subparsers())
    argv = ["loadtest", "--url", url, "--room", "flash-" + secrets.token_hex(3),
            "--viewers", str(args.viewers), "--duration", "8", "--scenario", "flash-sale",
            "--procs", str(args.procs or os.cpu_count() or 1),
            "--ramp", f"{max(2.0, args.viewers / 1000):g}s",
            "--slo", f"buy_p99<{TARGET_P99_MS:g}ms", "--slo", "unresolved<1",
            "--slo", "oversold<1", "--sample", "0", "--chat-rate", "0", "--buyers", "1",
            "--pay", "1", "--units", str(args.units), "--limit", "1", "--settle", "15",
            "--seed", "1", "--quiet", "--out", ""]  # fmt: skip
    if admin:
        argv += ["--admin-token", admin]
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        if args.url:
            url, admin = Target.parse(args.url).base, args.admin_token
        else:
            server = stack.enter_context(
                local_server(appendfsync=args.appendfsync, workers=args.server_workers)
            )
            url, admin = server.base, server.admin
        where = "" if args.url else f", server: {args.server_workers} process(es)"
        print(f"flash sale: {args.viewers} viewers, {args.units} units{where}...", flush=True)
        rep, _ = runner.run(loadtest_args(args, url, admin))
        return rep


def report(rep: dict[str, Any]) -> str:
    s = rep["summary"]
    b = s["buys"]
    k = s.get("books") or {}

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f} ms"

    def yes(ok: bool) -> str:
        return "yes" if ok else "NO"

    g = s["generator"]
    server = s.get("server") or {}
    all_definite = b["unresolved"] == 0 and b["definite"] == b["keys"] == b["pressed"]
    p99_ok = b["p99_ms"] is not None and b["p99_ms"] < TARGET_P99_MS
    limit = "  <- the clients, not the server, were the limit" if g["saturated"] else ""
    return "\n".join(
        [
            f"flash sale               {b['pressed']} of {s['viewers']} viewers pressed buy "
            f"within 1 s on a {rep['sale']['units']}-unit sale (limit 1 each)",
            f"definite buy replies     {b['definite']} of {b['keys']} ({b['unresolved']} "
            f"unresolved, {b['retries']} retries): {b['outcomes']}",
            f"time to buy reply        p50 {ms(b['p50_ms'])}, p99 {ms(b['p99_ms'])}, "
            f"max {ms(b['max_ms'])}",
            f"reservations             {b['reserved']} in {b['last_reservation_s'] or 0:.2f} s "
            f"after the sale opened: {b['reservations_per_s'] or 0:,.0f} /s",
            f"buy replies              {b['definite']} in {b['last_reply_s'] or 0:.2f} s: "
            f"{b['replies_per_s'] or 0:,.0f} /s",
            f"paid                     {b['ordered']} orders; pay p50 {ms(b['pay_p50_ms'])}, "
            f"p99 {ms(b['pay_p99_ms'])}",
            f"final check              sold {k.get('sold')}, oversold {k.get('oversold')}, "
            f"orders {k.get('orders')} ({'books balanced' if k.get('ok') else 'BOOKS FAILED'})",
            *[f"                         ! {p}" for p in k.get("problems", [])],
            f"server CPU               {server.get('cpu_percent_max')} % of a core in the "
            f"busiest second ({server.get('cpu_percent_avg')} % on average over the run)",
            f"client CPU               {g['cpu_percent_avg']} % avg per process "
            f"(max {g['cpu_percent_max']}){limit}",
            f"target                   all definite: {yes(all_definite)}; p99 < "
            f"{TARGET_P99_MS:.0f} ms: {yes(p99_ok)}; 0 oversold: {yes(k.get('oversold') == 0)}",
        ]
    )


def main(args: argparse.Namespace) -> int:
    rep = run(args)
    print(report(rep))
    if args.json:
        import json

        print(json.dumps(rep["summary"]["buys"] | {"books": rep["summary"].get("books")}))
    return 0
