"""The markdown table ``python -m bench.peers`` prints: one row per figure and room size,
livecart next to python-socketio with the ratio, then notes on what limited each run.

Plain functions of the results ``bench.peers.compare`` measured (no I/O but the
machine's core count in the last line).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psutil

from bench.peers.fanout import LIVECART, SOCKETIO

Result = dict[str, Any]
# One figure's row for room size N: (N, livecart's result, the peer's result) -> row.
Row = Callable[[int, Result | None, Result | None], str]

HEADER = (
    "| figure (one room, N viewers, chat fan-out) | livecart | python-socketio | ratio |",
    "|---|---:|---:|---:|",
)


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}×" if a and b else "-"


def _rate(r: Result | None) -> str:
    if r is None or "max_rate" not in r:
        return "not measured"
    if r["max_rate"] is None:
        return f"< {min(s['asked'] for s in r['steps']):.0f}" if r["steps"] else "-"
    mark = "≥ " if r.get("capped") else ""
    mark += "" if r.get("searched_to_end") else "~"
    return f"{mark}{r['max_rate']:,.0f}"


def _max_rate_row(n: int, lc: Result | None, sio: Result | None) -> str:
    lr = lc.get("max_rate") if lc else None
    sr = sio.get("max_rate") if sio else None
    return (
        f"| max chat rate at p99 < 250 ms, N = {n:,} (msg/s) | {_rate(lc)} | "
        f"{_rate(sio)} | {_ratio(lr, sr)} |"
    )


def _same_rate_row(n: int, lc: Result | None, sio: Result | None) -> str:
    same = (lc or {}).get("at_common")
    a = same["deliveries_per_cpu_s"] if same else None
    at = f"{same['asked']:,.0f} msg/s" if same else "the same rate"
    peer = [st for st in (sio or {}).get("steps", []) if same and st["asked"] == same["asked"]]
    b = peer[-1]["deliveries_per_cpu_s"] if peer else None
    return (
        f"| deliveries per server CPU-second, N = {n:,}, both at {at} | "
        f"{fmt(a)} | {fmt(b)} | {_ratio(a, b)} |"
    )


def _efficiency(r: Result | None) -> float | None:
    best = (r or {}).get("at_max")
    return None if best is None else best["deliveries_per_cpu_s"]


def _max_rate_efficiency_row(n: int, lc: Result | None, sio: Result | None) -> str:
    a, b = _efficiency(lc), _efficiency(sio)
    return (
        f"| deliveries per server CPU-second, N = {n:,}, each at its max rate | "
        f"{fmt(a)} | {fmt(b)} | {_ratio(a, b)} |"
    )


def _rss_row(n: int, lc: Result | None, sio: Result | None) -> str:
    a = (lc or {}).get("rss_per_viewer_kib")
    b = (sio or {}).get("rss_per_viewer_kib")
    less = f"{_ratio(b, a)} less" if a and b else "-"
    return f"| server RSS per idle viewer, N = {n:,} (KiB) | {fmt(a)} | {fmt(b)} | {less} |"


ROWS: tuple[Row, ...] = (_max_rate_row, _same_rate_row, _max_rate_efficiency_row, _rss_row)


def _limits(r: Result) -> list[str]:
    """What limited this run, when it was not the server alone."""
    who = f"{r['server']} N={r['viewers']:,}"
    notes = []
    if r.get("capped"):
        notes.append(
            f"{who}: passed the highest rate tried "
            f"({r['cap']:.0f} msg/s: every sender at its 1 msg/s)"
        )
    if r.get("client_limited"):
        notes.append(
            f"{who}: a client process was near saturation "
            "(>= 80 % of a core) at the limit: the client, not the server, was the limit"
        )
    elif r.get("machine_bound"):
        notes.append(
            f"{who}: the machine's cores were >= 85 % busy "
            "near the limit (server, clients, Redis and the kernel's loopback work): the "
            "shared machine, not the server process alone, set it"
        )
    return notes


def _search(r: Result) -> list[str]:
    """How the rate search ended, when it did not find a limit."""
    who = f"{r['server']} N={r['viewers']:,}"
    notes = []
    if r.get("steps") and r.get("max_rate") is None:
        low = min(r["steps"], key=lambda st: st["asked"])
        notes.append(
            f"{who}: no rate passed; at {low['asked']:,.0f} "
            f"msg/s p99 was {fmt(low['p99_ms'])} ms with the server at "
            f"{low['server_cpu_percent']} % CPU"
        )
    if r.get("backlog"):
        notes.append(f"{who}: {r['backlog']}; search stopped")
    if not r.get("searched_to_end", True) and not r.get("backlog"):
        notes.append(
            f"{who}: search stopped by the step or time budget (~: within the last bounds tried)"
        )
    return notes


def table(results: list[Result], command: str) -> str:
    def find(kind: str, n: int) -> Result | None:
        return next((r for r in results if r["server"] == kind and r["viewers"] == n), None)

    ns = sorted({int(r["viewers"]) for r in results})
    lines = list(HEADER)
    for row in ROWS:
        lines += [row(n, find(LIVECART, n), find(SOCKETIO, n)) for n in ns]
    notes = [note for r in results for note in (*_limits(r), *_search(r))]
    out = "\n".join(lines)
    if notes:
        out += "\n\n" + "\n".join(f"- {n}" for n in notes)
    return out + f"\n\nMade with `{command}` on this machine ({psutil.cpu_count()} cores)."
