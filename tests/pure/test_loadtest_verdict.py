"""The load test's verdict: a run that did not make the load it planned fails, and a run
that met the server's per-address caps fails and says how to run the server instead."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

import pytest

from livecart.loadtest import report
from livecart.loadtest.scenarios import behaviour, offered
from livecart.loadtest.server_caps import CAPS, SERVE_FOR_LOAD, caps_met, first_sight
from livecart.loadtest.summary import plan_figures
from livecart.loadtest.verdict import PLAN, judge, plan_checks
from livecart.web.cli import add_parsers as add_serve_parser
from livecart.web.config import Config


def summary(
    viewers: int = 200,
    joined: int = 200,
    count: dict[str, int] | None = None,
    errors: dict[str, int] | None = None,
    buys: dict[str, Any] | None = None,
) -> dict[str, Any]:
    counters = Counter({"viewers_joined": joined, **(count or {})})
    return {
        "viewers": viewers,
        "plan": plan_figures(viewers, counters, buys),
        "errors": {"count": sum((errors or {}).values()), "rate": 0.0, "by_code": errors or {}},
        "buys": buys,
    }


def test_a_run_that_made_its_plan_passes() -> None:
    s = summary(count={"chat_due": 500, "chat_missed": 0, "heart_due": 3000},
                buys={"buyers": 40, "pressed": 40, "outcomes": {"reserved": 40}})  # fmt: skip
    judged = judge(s, [], None)
    assert judged["verdict"] == "pass" and judged["failed"] == [] and judged["reasons"] == []
    assert [r["row"] for r in judged["plan_rows"]] == ["viewers", "chat", "hearts", "buys"]
    assert all(r["ok"] for r in judged["plan_rows"]) and judged["advice"] == ""


def test_fewer_viewers_joined_than_requested_fails_whatever_the_scenario() -> None:
    judged = judge(summary(viewers=200, joined=100), [], None)
    assert judged["verdict"] == "fail" and judged["failed"] == ["viewers"]
    assert judged["reasons"] == ["100 of 200 viewers never joined"]
    # one row for every scenario: the auction's report uses the same one
    (row,) = plan_checks({"viewers": {"planned": 15, "done": 14}})
    assert not row["ok"] and row["reason"] == "1 of 15 viewers never joined"


@pytest.mark.parametrize(
    ("kind", "row", "noun"),
    [("chat", "chat", "chat messages"), ("heart", "hearts", "heart taps"),
     ("explain", "explain", "'explain this' taps")],
)  # fmt: skip
def test_fewer_commands_sent_than_planned_fails(kind: str, row: str, noun: str) -> None:
    s = summary(count={f"{kind}_due": 1000, f"{kind}_missed": 7})
    judged = judge(s, [], None)
    assert judged["verdict"] == "fail" and judged["failed"] == [row]
    assert judged["reasons"] == [f"7 of 1,000 {noun} due were not sent"]


def test_buyers_who_never_pressed_fail_the_run() -> None:
    s = summary(buys={"buyers": 40, "pressed": 39, "outcomes": {"reserved": 39}})
    assert judge(s, [], None)["reasons"] == ["1 of 40 buyers never pressed buy"]


def test_objectives_and_books_fail_beside_the_plan() -> None:
    slo = {"slo": "p99<250ms", "ok": False, "value": 321.3, "unit": "ms"}
    judged = judge(summary(joined=199), [slo], {"ok": False})
    assert judged["failed"] == ["viewers", "p99<250ms", "books"]
    assert "objective p99<250ms not met (321.3ms)" in judged["reasons"]


def test_refused_handshakes_name_the_socket_cap_and_the_flags_that_lift_it() -> None:
    s = summary(joined=100, errors={"connect:http_429": 100, "chat:rate_limited": 271})
    judged = judge(s, [], None)
    assert judged["verdict"] == "fail" and "server caps" in judged["failed"]
    causes = judged["reasons"][:2]
    assert "100 WebSocket handshake(s) refused with HTTP 429" in causes[0]
    assert "per-address socket cap" in causes[0]
    assert "271 chat message(s) refused as rate_limited" in causes[1]
    assert "per-address chat rate" in causes[1]
    assert "--max-sockets-per-address 0 --address-chat-rate 0" in judged["advice"]
    assert "LIVECART_MAX_SOCKETS_PER_ADDRESS=0" in judged["advice"]
    rep = {"summary": {}, "verdict": "fail", **judged}
    lines = report._verdict_lines(rep)
    assert lines[0] == "verdict          FAIL"
    assert any("HTTP 429" in line and "socket cap" in line for line in lines)
    assert any(line.startswith("  fix") and SERVE_FOR_LOAD in line for line in lines)


def test_no_cap_met_without_a_refusal_it_stands_for() -> None:
    assert caps_met(summary(errors={"chat:slow_mode": 3, "connect:TimeoutError": 2})) == []
    assert first_sight("connect:TimeoutError") is None
    line = first_sight("connect:http_429")
    assert line is not None and "HTTP 429" in line and "--max-sockets-per-address 0" in line
    held = summary(buys={"buyers": 10, "pressed": 10, "outcomes": {"too_many_holds": 7}})
    assert [m["cap"] for m in caps_met(held)] == ["holds"]


def test_the_flags_and_variables_named_lift_the_servers_caps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the report tells the operator to type is what ``livecart serve`` reads."""
    sub = argparse.ArgumentParser().add_subparsers()
    add_serve_parser(sub)
    serve = sub.choices["serve"]
    args = serve.parse_args(SERVE_FOR_LOAD.split()[2:])
    assert args.max_sockets_per_address == 0 and args.address_chat_rate == 0
    assert args.holds_per_address == 0
    for cap in CAPS:
        serve.parse_args(cap.flag.split())  # a real flag, or argparse exits
        name, value = cap.env.split("=")
        monkeypatch.setenv(name, value)
    config = Config.from_env()
    assert config.max_sockets_per_address == 0 and config.address_chat_rate == 0
    assert config.holds_per_address == 0
    # and the defaults the causes quote are the server's
    assert Config.max_sockets_per_address == 100 and Config.address_chat_rate == 2.0
    assert Config.holds_per_address == 3


def test_every_plan_row_has_its_figures_in_the_summary() -> None:
    plan = plan_figures(
        10,
        Counter({"viewers_joined": 10, "chat_due": 5, "heart_due": 5, "explain_due": 5}),
        {"buyers": 2, "pressed": 2},
    )
    assert sorted(plan) == sorted(row.key for row in PLAN)


def test_a_rate_too_high_for_the_viewers_is_planned_down_with_a_note() -> None:
    b, notes = offered(behaviour("chat"), 200)  # 200 msg/s; 200 viewers at 1 per 1.25 s
    assert b.chat_rate == 133 and len(notes) == 1 and "133 messages/s, not 200" in notes[0]
    same, none = offered(behaviour("chat"), 1000)
    assert same.chat_rate == 200 and none == []
    b, notes = offered(behaviour("hearts"), 20)  # 6 tappers, at most 50 taps a second each
    assert b.heart_rate == 250 and "hearts at 250 taps/s" in notes[0]
