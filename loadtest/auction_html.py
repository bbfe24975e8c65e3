"""The ``auction`` scenario's ``report.html``: one self-contained page, no script at all.

Rendered here from the report's data (``summary.auction_report``) as HTML with inline
CSS and SVG, so it opens from a file, offline, and shows the same whatever the browser
allows. Its sections (each an ``<section id=...>``):

- ``verdict``: PASS or FAIL, the run's configuration and the command;
- ``latency``: bid reply p50 / p90 / p99 / max against the 250 ms goal, and the
  histogram of reply times;
- ``bids``: bids accepted and refused by reason (and any left without a reply);
- ``checks``: every correctness check with PASS or FAIL and what it saw (one winner at
  the right price, every bid answered, closes exactly once, winner charged, the stock
  invariant, the objectives given with ``--slo``);
- ``final``: the auction's end as the server reported it, beside what the bids it sent
  imply.

Pure: a dict in, a string out. Every value is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

GOAL_MS = 250.0
#: upper bounds (ms) of the reply-time histogram's buckets; the last one is open
BUCKETS_MS = (5, 10, 20, 50, 100, 150, 200, 250, 300, 500, 1000, 2000, 5000)

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#1d232a}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:.25em .8em;text-align:left;
border-bottom:1px solid #eee;vertical-align:top}
.pass{color:#11772f;font-weight:600}.fail{color:#b3261e;font-weight:600}
.big{font-size:1.6em}code{font-size:.9em;word-break:break-all}
svg text{font:12px system-ui,sans-serif}
"""


def buckets(ms: Sequence[float]) -> list[list[Any]]:
    """``[[label, count], ...]`` of the reply times over ``BUCKETS_MS``."""
    counts = [0] * (len(BUCKETS_MS) + 1)
    for v in ms:
        i = next((k for k, b in enumerate(BUCKETS_MS) if v <= b), len(BUCKETS_MS))
        counts[i] += 1
    labels = [f"≤{b}" for b in BUCKETS_MS] + [f">{BUCKETS_MS[-1]}"]
    return [[label, n] for label, n in zip(labels, counts, strict=True)]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.1f} ms"


def _mark(ok: bool) -> str:
    return '<span class="pass">PASS</span>' if ok else '<span class="fail">FAIL</span>'


def hbars(rows: Sequence[tuple[str, float, str]], unit: str = "", goal: float | None = None) -> str:
    """A horizontal bar chart: ``(label, value, colour)`` per row; ``goal`` draws a line."""
    top = max([v for _, v, _ in rows] + [goal or 0.0, 1e-9])
    width, left, row_h = 520, 150, 24
    height = row_h * len(rows) + 10
    parts = [f'<svg width="{width + left + 90}" height="{height}" role="img">']
    for i, (label, value, colour) in enumerate(rows):
        y = 5 + i * row_h
        w = max(1.0, width * value / top) if value else 0.0
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{_e(label)}</text>')
        tip = f"<title>{_e(label)}: {value:g}{_e(unit)}</title>"
        parts.append(
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{colour}">{tip}</rect>'
        )
        shown = f"{value:,.1f}" if unit else f"{value:,.0f}"
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 15}">{shown}{_e(unit)}</text>')
    if goal is not None:
        x = left + width * goal / top
        tip = f"<title>goal {goal:g}{_e(unit)}</title>"
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="#b3261e" '
            f'stroke-dasharray="4 3">{tip}</line>'
        )
        parts.append(f'<text x="{x + 4:.1f}" y="{height - 4}" fill="#b3261e">goal</text>')
    parts.append("</svg>")
    return "".join(parts)


def columns(rows: Sequence[Sequence[Any]]) -> str:
    """A vertical bar chart of ``[[label, count], ...]`` (the histogram)."""
    top = max([float(n) for _, n in rows] + [1.0])
    bar, gap, height = 40, 6, 160
    parts = [f'<svg width="{len(rows) * (bar + gap) + 10}" height="{height + 40}" role="img">']
    for i, (label, n) in enumerate(rows):
        x = 5 + i * (bar + gap)
        h = (height - 20) * float(n) / top
        y = height - h
        parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="#3867d6">'
                     f'<title>{_e(label)} ms: {n}</title></rect>')  # fmt: skip
        parts.append(f'<text x="{x + bar / 2}" y="{y - 4:.1f}" text-anchor="middle">{n}</text>')
        parts.append(f'<text x="{x + bar / 2}" y="{height + 16}" text-anchor="middle">'
                     f"{_e(label)}</text>")  # fmt: skip
    parts.append(f'<text x="5" y="{height + 34}">reply time, ms</text></svg>')
    return "".join(parts)


def _table(rows: Sequence[Sequence[str]], head: Sequence[str] = ()) -> str:
    out = ["<table>"]
    if head:
        out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>")
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    out.append("</table>")
    return "".join(out)


def render_html(rep: dict[str, Any]) -> str:
    cfg, bids, lat, fin = rep["config"], rep["bids"], rep["bid_ms"], rep["final"]
    checks: list[dict[str, Any]] = rep.get("checks") or []
    verdict = bool(rep.get("pass"))
    title = f"livecart loadtest: auction {rep.get('room', '')}"
    refused = sorted((bids.get("refused") or {}).items(), key=lambda kv: -kv[1])
    unanswered = max(0, int(bids["planned"]) - int(bids["answered"]))
    bid_rows = [("accepted", float(bids["accepted"]), "#20a464")]
    bid_rows += [(f"refused: {code}", float(n), "#e8a33d") for code, n in refused]
    if unanswered:
        bid_rows.append(("no reply", float(unanswered), "#b3261e"))
    lat_rows = [
        (name, float(lat[key]), colour)
        for name, key, colour in (("p50", "p50", "#3867d6"), ("p90", "p90", "#3867d6"),
                                  ("p99", "p99", "#1e3a8a"), ("max", "max", "#7a869a"))
        if lat.get(key) is not None
    ]  # fmt: skip
    settings = [
        ("viewers", f"{rep.get('viewers_joined')}/{cfg['viewers']} joined"),
        ("bidders", f"{cfg['bidders']} in the last {cfg['storm_s']:g} s"),
        ("auction", f"{cfg['duration_s']} s, counter-bid {cfg['counter_s']} s"),
        ("client processes", str(cfg.get("procs"))),
        ("seed", str(cfg.get("seed"))),
    ]
    final_rows = [
        ("state", _e(fin.get("state"))),
        ("price", f"{_e(fin.get('price'))} (expected {_e(rep['expected']['price'])})"),
        (
            "winner",
            f"{_e(fin.get('winner_vid'))} (allowed: "
            f"{_e(', '.join(rep['expected']['winners']) or '-')})",
        ),
        ("accepted bids", f"{_e(fin.get('bids'))}; resets {_e(rep.get('resets'))}"),
        ("order", _e(fin.get("order_id"))),
        ("orders in the show", _e(rep.get("orders"))),
    ]
    check_rows = [[_e(c["name"]), _mark(bool(c["ok"])), _e(c["detail"])] for c in checks]
    per_s = rep.get("accepted_per_s")
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<section id="verdict"><p class="big">{_mark(verdict)} '
        + (
            "one winner at the right price; every check passed"
            if verdict
            else _e("; ".join(rep["reasons"]))
        )
        + "</p>"
        + (f'<p class="advice">{_e(rep["advice"])}</p>' if rep.get("advice") else "")
        + f"{_table([[_e(k), _e(v)] for k, v in settings])}"
        f"<p><code>{_e(rep.get('command', ''))}</code></p></section>",
        '<section id="latency"><h2>Bid reply latency</h2>'
        f"<p>p50 {_ms(lat.get('p50'))}, p99 {_ms(lat.get('p99'))}, max {_ms(lat.get('max'))} "
        f"over {bids['answered']} replies; goal p99 under {GOAL_MS:g} ms "
        f"{_mark((lat.get('p99') or 0) < GOAL_MS) if lat.get('p99') is not None else ''}</p>"
        f"{hbars(lat_rows, ' ms', GOAL_MS)}{columns(rep.get('bid_ms_histogram') or [])}"
        "</section>",
        '<section id="bids"><h2>Bids accepted and refused</h2>'
        f"<p>{bids['answered']}/{bids['planned']} answered, {bids['accepted']} accepted"
        + (f" ({per_s:,.1f}/s over the storm)" if per_s is not None else "")
        + f"; {bids.get('unsent', 0)} could not be sent</p>{hbars(bid_rows)}</section>",
        '<section id="checks"><h2>Correctness checks</h2>'
        f"{_table(check_rows, ('check', 'result', 'what it saw'))}</section>",
        '<section id="final"><h2>The auction’s end</h2>'
        f"{_table([[_e(k), v] for k, v in final_rows])}</section>",
    ]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
