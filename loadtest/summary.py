"""The load test's report as data: the summary of a run from the client processes'
ticks and final messages (pure; ``loadtest.report`` renders it).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from livecart.loadtest import auction_html
from livecart.loadtest.aggregate import NOT_ERRORS, Aggregate, error_count
from livecart.loadtest.auction_checks import Check
from livecart.loadtest.purchase import FAILURES
from livecart.loadtest.scenarios import Behaviour, Timeline
from livecart.loadtest.server_caps import advice, caps_met
from livecart.loadtest.stats import exact_percentile, percentiles
from livecart.loadtest.verdict import plan_checks

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


ACTIVITIES = ("chat", "heart", "explain")  # paced activities: their <kind>_due, _missed


def plan_figures(viewers: int, count: Counter[str], buys: dict[str, Any] | None) -> dict[str, Any]:
    """What the run planned and what it did, for the verdict's plan rows
    (``loadtest.verdict``): ``{row: {"planned": n, "done": m}}``. A paced activity is in
    it when its loop ran (``<kind>_due`` in the counters); the buys after a sale."""
    plan: dict[str, Any] = {
        "viewers": {"planned": viewers, "done": count.get("viewers_joined", 0)},
    }
    for kind in ACTIVITIES:
        if kind + "_due" in count:
            due, missed = count[kind + "_due"], count.get(kind + "_missed", 0)
            row = "hearts" if kind == "heart" else kind
            plan[row] = {"planned": due, "done": due - missed}
    if buys is not None:
        plan["buys"] = {"planned": buys["buyers"], "done": buys["pressed"]}
    return plan


def buyer_figures(finals: list[dict[str, Any]], agg: Aggregate) -> dict[str, Any]:
    totals = agg.totals()
    outcomes: dict[str, int] = {}
    for f in finals:
        for k, n in f["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + n
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
        "viewers_joined": count.get("viewers_joined", 0),
        "connected_peak": max((r["connected"] for r in series), default=0),
        "connected_end": series[-1]["connected"] if series else 0,
        "connect_attempts": connect_attempts,
        "connect_failures": count.get("connect_failed", 0),
        "drops": count.get("drops", 0),
        "reconnects": count.get("reconnects", 0),
        "close_codes": dict(totals["close_codes"]),
        "samples": samples,
        "latency": {**percentiles(agg.total_lat), "n": agg.total_lat.n},
        "sent_latency": {**percentiles(agg.total_sent_lat), "n": agg.total_sent_lat.n},
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
        "chat_abandoned": count.get("chat_abandoned", 0),  # in flight when a storm left
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
    summary["plan"] = plan_figures(args.viewers, count, summary.get("buys"))
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


def auction_report(
    args: argparse.Namespace,
    joined: int,
    failed: int,
    bids: list[Any],
    results: list[Any],
    judged: Any,
    final: dict[str, Any] | None,
    orders: list[dict[str, Any]],
    storm: float,
    unsent: int,
    refused: Counter[str],
    checks: Sequence[Check] = (),
    join_errors: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The ``auction`` scenario's report (``loadtest.auction_storm``): bids, reply times,
    resets, the verdict on "one winner, right price" and the other correctness checks
    (``loadtest.auction_checks``), the plan's rows that apply (``loadtest.verdict``:
    every viewer joined) and the server's per-address caps met (``join_errors``: why
    viewers failed to join, by counter). ``pass`` is true when the verdict and every
    check pass and no cap was met."""
    ms = [r.ms for r in results]
    every = [
        Check("one winner, right price", judged.passed, "; ".join(judged.reasons) or
              f"winner among {len(judged.expected_winners)} top bidder(s) at "
              f"{judged.expected_price}"),
        Check("every bid answered definitely", len(results) >= len(bids),
              f"{len(results)}/{len(bids)} replies, {unsent} not sent"),
        *(Check(r["what"], r["ok"], r["reason"] or f"{r['done']:,}/{r['planned']:,}")
          for r in plan_checks({"viewers": {"planned": args.viewers, "done": joined}})),
        *checks,
    ]  # fmt: skip
    met = caps_met({"errors": {"by_code": dict(join_errors or {})}})
    accepted = sum(1 for r in results if r.accepted)
    winner = (final or {}).get("winner") or {}
    return {
        "scenario": "auction",
        "room": args.room,
        "command": command_line(sys.argv[1:]),
        "config": {
            "viewers": args.viewers,
            "bidders": len(bids),
            "storm_s": storm,
            "duration_s": max(5, int(args.duration)),
            "counter_s": args.counter,
            "procs": args.procs,
            "seed": args.seed,
        },
        "viewers_joined": joined,
        "viewers_failed": failed,
        "bids": {
            "planned": len(bids),
            "answered": len(results),
            "unsent": unsent,
            "accepted": accepted,
            "refused": dict(refused),
        },
        "accepted_per_s": accepted / storm if storm > 0 else None,
        "bid_ms": {
            "p50": exact_percentile(ms, 0.5),
            "p90": exact_percentile(ms, 0.9),
            "p99": exact_percentile(ms, 0.99),
            "max": max(ms) if ms else None,
        },
        "bid_ms_histogram": auction_html.buckets(ms),
        "resets": (final or {}).get("resets"),
        "final": {
            "state": (final or {}).get("state"),
            "price": (final or {}).get("price"),
            "winner_vid": winner.get("vid"),
            "bids": (final or {}).get("bids"),
            "order_id": (final or {}).get("order_id"),
        },
        "expected": {
            "price": judged.expected_price,
            "winners": sorted(judged.expected_winners),
        },
        "orders": len(orders),
        "pass": all(c.ok for c in every) and not met,
        "reasons": [m["cause"] for m in met] + [f"{c.name}: {c.detail}" for c in every if not c.ok],
        "caps": met,
        "advice": advice(met),
        "checks": [c.to_dict() for c in every],
        "slos": [],
    }
