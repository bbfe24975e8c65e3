"""The verdict of a ``livecart loadtest`` run: did it make the load it planned, and did
the server meet the objectives (plain data in, plain data out; no I/O).

A run passes only if every row below holds. :data:`PLAN` is one row per promise the
tester makes before it starts, the same rows for every scenario: a row applies when
the summary's ``plan`` holds its figures (``loadtest.summary.plan_figures``), and it
fails when fewer were done than planned:

| row | planned | done |
|---|---|---|
| ``viewers`` | ``--viewers`` | distinct viewers who got their first frame |
| ``chat`` | messages due after the ramp | those sent (not: no connected chatter was free) |
| ``hearts`` | heart taps due after the ramp | those sent |
| ``explain`` | "explain this" taps due after the ramp | those sent |
| ``buys`` | viewers chosen to press buy | those who pressed |

Then the objectives (``--slo``, ``loadtest.slo``) and, after a flash sale, the books
check (``loadtest.books``). :func:`judge` returns every failure with its reason, and
the server's per-address caps the run met (``loadtest.server_caps``): a run that met
them measured the caps, and the report says how to run the server instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from livecart.loadtest.server_caps import advice, caps_met


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One line of the run's plan: its ``key`` in the summary's ``plan``, what it counts, and
    how a shortfall is said in words."""

    key: str  # in the summary's ``plan``
    what: str  # "viewers joined": done of planned
    short: str  # when fewer: "{missing} ..." in words


PLAN: tuple[PlanRow, ...] = (
    PlanRow("viewers", "viewers joined", "{missing} of {planned:,} viewers never joined"),
    PlanRow(
        "chat",
        "chat messages sent after the ramp",
        "{missing} of {planned:,} chat messages due were not sent",
    ),
    PlanRow(
        "hearts",
        "heart taps sent after the ramp",
        "{missing} of {planned:,} heart taps due were not sent",
    ),
    PlanRow(
        "explain",
        "'explain this' taps sent after the ramp",
        "{missing} of {planned:,} 'explain this' taps due were not sent",
    ),
    PlanRow("buys", "buyers who pressed buy", "{missing} of {planned:,} buyers never pressed buy"),
)


def plan_checks(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each row of :data:`PLAN` that applies to ``plan`` (``{key: {"planned": n,
    "done": m}}``): ``{"row", "what", "planned", "done", "ok", "reason"}``; ``ok`` when
    ``done >= planned``."""
    out: list[dict[str, Any]] = []
    for row in PLAN:
        figures = plan.get(row.key)
        if not figures or figures.get("planned") is None:
            continue
        planned, done = int(figures["planned"]), int(figures.get("done") or 0)
        ok = done >= planned
        out.append(
            {
                "row": row.key,
                "what": row.what,
                "planned": planned,
                "done": done,
                "ok": ok,
                "reason": "" if ok else row.short.format(missing=f"{planned - done:,}",
                                                         planned=planned),
            }
        )  # fmt: skip
    return out


def judge(
    summary: Mapping[str, Any],
    slo_results: Sequence[Mapping[str, Any]],
    books: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The verdict of a run: ``{"verdict": "pass" | "fail", "failed": [names],
    "reasons": [sentences], "plan_rows": [rows], "caps": [caps met], "advice": str}``.

    ``failed`` names what failed (a plan row, an objective's text, ``books``);
    ``reasons`` says each in words, the caps the server enforced first."""
    rows = plan_checks(summary.get("plan") or {})
    met = caps_met(summary)
    failed: list[str] = []
    reasons: list[str] = []
    for row in rows:
        if not row["ok"]:
            failed.append(row["row"])
            reasons.append(row["reason"])
    for v in slo_results:
        if not v["ok"]:
            failed.append(str(v["slo"]))
            value = "no data" if v["value"] is None else f"{v['value']:g}{v['unit']}"
            reasons.append(f"objective {v['slo']} not met ({value})")
    if books is not None and not books.get("ok"):
        failed.append("books")
        reasons.append("the books check failed")
    if met:
        failed.append("server caps")
        reasons[:0] = [m["cause"] for m in met]
    return {
        "verdict": "fail" if failed else "pass",
        "failed": failed,
        "reasons": reasons,
        "plan_rows": rows,
        "caps": met,
        "advice": advice(met),
    }
