"""The load test's report: ``report.json``, a self-contained ``report.html``, a text summary.

The HTML page is ``static/report.html`` with the report's JSON inlined; its inline
script draws the plots as SVG (latency percentiles, deliveries, connected viewers, buy
outcomes, client and server CPU). No external resources: it opens from a file, offline.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).parent / "static" / "report.html"


def render_html(rep: dict[str, Any]) -> str:
    data = json.dumps(rep, separators=(",", ":"), allow_nan=False, default=str)
    # Safe inside <script>: no "</script>", no HTML comment openers.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = html.escape(f"livecart loadtest: {rep.get('scenario')} {rep.get('room')}")
    page = TEMPLATE.read_text(encoding="utf-8")
    return page.replace("__TITLE__", title).replace("__REPORT_JSON__", data)


def _clean(value: Any) -> Any:
    """NaN and infinities become null (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write(out: Path, rep: dict[str, Any]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rep = _clean(rep)
    json_path = out / "report.json"
    html_path = out / "report.html"
    json_path.write_text(json.dumps(rep, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    html_path.write_text(render_html(rep), encoding="utf-8")
    return [json_path, html_path]


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f} ms"


def _n(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def text_summary(rep: dict[str, Any]) -> str:
    s = rep["summary"]
    cfg = rep["config"]
    lat = s["latency"]
    lines = [
        f"livecart loadtest: scenario {rep['scenario']}, {cfg['viewers']} viewers, "
        f"{cfg['duration']:.0f}s after a {cfg['ramp']:.0f}s ramp, {cfg['procs']} client "
        f"process(es), room {rep['room']} at {rep['url']}",
        f"connected        {s['connected_peak']} peak, {s['connected_end']} at the end "
        f"({s['connect_failures']} failed to connect, {s['drops']} dropped, "
        f"{s['reconnects']} reconnects)",
        f"join             p50 {_ms(s['join']['p50'])}, p99 {_ms(s['join']['p99'])}"
        + (
            f"; rejoin p99 {_ms(s['rejoin']['p99'])} ({s['rejoin']['n']}, {s['resumed']} resumed)"
            if s["rejoin"]["n"]
            else ""
        ),
        f"chat             {_n(s['msgs_per_s'])} msg/s accepted of "
        f"{_n(s['chat_offered_per_s'])} offered",
        f"deliveries       {_n(s['deliveries_per_s'])} events/s (from {s['samples']} sample "
        f"viewers); {_n(s['frames_per_s'])} frames/s, {s['mbytes_per_s'] or 0:.1f} MB/s",
        f"latency          p50 {_ms(lat['p50'])}, p90 {_ms(lat['p90'])}, p99 {_ms(lat['p99'])}, "
        f"max {_ms(lat['max'])} ({lat['n']:,} events, server-stamped); gaps {s['gaps']}, "
        f"repeats {s['repeats']}, skipped {s['skipped']}",
        *(
            [
                f"  sender's clock p50 {_ms(sent['p50'])}, p90 {_ms(sent['p90'])}, p99 "
                f"{_ms(sent['p99'])}, max {_ms(sent['max'])} ({sent['n']:,} chat messages)"
            ]
            if (sent := s.get("sent_latency")) and sent.get("n")
            else []
        ),
        f"errors           {s['errors']['count']} ({s['errors']['rate']:.3f} % of "
        f"{s['commands'] + s['connect_attempts']:,} commands and connects)"
        + (f": {s['errors']['by_code']}" if s["errors"]["by_code"] else ""),
    ]
    if s.get("video"):
        v = s["video"]
        lines.append(
            f"video            {v['live']} sockets live, {v['offline']} offline; "
            f"{_n(v['frames_per_s'])} messages/s; behind live p99 "
            f"{_ms(v['behind_live']['p99'])}"
        )
    if s.get("buys"):
        b = s["buys"]
        refused = {k: n for k, n in b["outcomes"].items() if k != "reserved"}
        lines.append(
            f"buys             {b['pressed']} pressed: {b['reserved']} held, refused {refused}; "
            f"{b['unresolved']} without a definite reply ({b['retries']} retries)"
        )
        lines.append(
            f"time to buy reply p50 {_ms(b['p50_ms'])}, p99 {_ms(b['p99_ms'])}, "
            f"max {_ms(b['max_ms'])}; {_n(b['replies_per_s'])} replies/s, "
            f"{_n(b['reservations_per_s'])} reservations/s"
        )
        lines.append(
            f"paid             {b['ordered']} orders, {b['abandoned']} abandoned holds, "
            f"pay outcomes {b['pay_outcomes']}; pay p99 {_ms(b['pay_p99_ms'])}"
        )
    if s.get("books"):
        k = s["books"]
        head = "OK" if k["ok"] else "FAILED"
        lines.append(
            f"books            {head}: sold {k['sold']} = {k['confirmed_to_buyers']} orders "
            f"confirmed to buyers ({k['orders']} in the books), oversold {k['oversold']}, "
            f"{k['definite']}/{k['buys']} buys answered definitely"
        )
        lines += [f"                 ! {p}" for p in k["problems"]]
    if s.get("server_counters"):
        c = s["server_counters"]
        agree = c["agreement"]
        lines.append(
            f"server counters  {_n(c['deliveries'])} batch frames delivered (/metrics), "
            f"{_n(c['received_batches'])} received"
            + (f" ({100 * agree:.2f} %)" if agree is not None else "")
            + f"; {c['chat_skipped']} chat skipped, {c['slow_closed']} slow consumers closed"
        )
    if s.get("server"):
        sv = s["server"]
        lines.append(
            f"server process   CPU {sv['cpu_percent_avg']} % of a core on average, "
            f"{sv['cpu_percent_max']} % in the busiest second; RSS {sv['rss_mb']} MB"
        )
    g = s["generator"]
    lines.append(
        f"client CPU       {g['cpu_percent_avg']} % avg per process (max {g['cpu_percent_max']})"
        + (
            "  <- SATURATED: the load generator, not the server, was the limit"
            if g["saturated"]
            else ""
        )
    )
    for note in rep.get("notes") or []:
        lines.append(f"note             {note}")
    for row in rep.get("plan_rows") or []:
        lines.append(
            f"plan             {row['what']:<40} {row['done']:>7,} of {row['planned']:<7,} "
            f"{'PASS' if row['ok'] else 'FAIL'}"
        )
    for v in rep.get("slo") or []:
        value = "no data" if v["value"] is None else f"{v['value']:g}{v['unit']}"
        lines.append(f"SLO              {v['slo']:<20} {value:<14} {'PASS' if v['ok'] else 'FAIL'}")
    lines += _verdict_lines(rep)
    return "\n".join(lines)


def _verdict_lines(rep: dict[str, Any]) -> list[str]:
    """The verdict, with each reason for a failure and how to run the server when the
    load met its per-address caps."""
    lines = [f"verdict          {rep.get('verdict', '?').upper()}"]
    lines += [f"  because        {reason}" for reason in rep.get("reasons") or []]
    if rep.get("advice"):
        lines.append(f"  fix            {rep['advice']}")
    return lines


def auction_text(rep: dict[str, Any]) -> str:
    """The ``auction`` scenario's summary, a few lines."""
    cfg, bids, lat, fin = rep["config"], rep["bids"], rep["bid_ms"], rep["final"]
    refused = ", ".join(f"{k} {v}" for k, v in sorted(bids["refused"].items())) or "none"
    lines = [
        f"auction: {rep['viewers_joined']}/{cfg['viewers']} viewers, {cfg['bidders']} bidders "
        f"in the last {cfg['storm_s']:g} s (counter-bid {cfg['counter_s']} s)",
        f"  bids: {bids['answered']}/{bids['planned']} answered, {bids['accepted']} accepted "
        f"({_n(rep['accepted_per_s'])}/s over the storm), refused: {refused}",
        f"  bid reply: p50 {_ms(lat['p50'])}, p99 {_ms(lat['p99'])}, max {_ms(lat['max'])}",
    ]
    timer = rep.get("client_timer_ms") or {}
    if timer.get("p99") is not None:
        lines.append(
            f"  client processes' own lateness in the storm (10 ms timer): p50 "
            f"{_ms(timer['p50'])}, p99 {_ms(timer['p99'])}"
        )
    stages = rep.get("server_stages") or {}
    if stages:
        shown = ", ".join(
            f"{name} {_ms(f['p50_ms'])}/{_ms(f['p99_ms'])}" for name, f in stages.items()
        )
        lines.append(f"  server over the auction, p50/p99: {shown}")
    lines += [
        f"  resets: {rep['resets']}; final: {fin['state']} at {fin['price']} "
        f"(expected {rep['expected']['price']}), winner {fin['winner_vid']}, "
        f"orders {rep['orders']}",
    ]
    lines += [f"  slo {s['objective']}: {'met' if s['met'] else 'MISSED'}" for s in rep["slos"]]
    for c in rep.get("checks") or []:
        lines.append(f"  {c['name']}: {'PASS' if c['ok'] else 'FAIL'} ({c['detail']})")
    lines.append(f"  verdict: {'PASS' if rep['pass'] else 'FAIL'}")
    lines += [f"    because {m['cause']}" for m in rep.get("caps") or []]
    if rep.get("advice"):
        lines.append(f"    fix: {rep['advice']}")
    return "\n".join(lines)
