"""The auction load test's correctness checks and its HTML page, on plain data: each
check passes on a clean run and fails, saying why, on the fault it is there to catch;
the page holds every section, escapes what it shows and loads nothing."""

from __future__ import annotations

import re
from typing import Any

from livecart.loadtest import auction_checks as checks
from livecart.loadtest import auction_html

AID = "a_1"


def view(state: str, bids: int = 3, price: int = 1600, vid: str | None = "vAnn") -> dict[str, Any]:
    winner = {"name": "A***n", "vid": vid} if vid and state != "running" else None
    return {"id": AID, "state": state, "bids": bids, "price": price, "winner": winner}


def test_closes_once_passes_on_one_close_and_catches_a_second() -> None:
    clean = [view("running", 1, 1000), view("running"), view("won"), view("sold")]
    assert checks.closes_once([{"id": "a_0", "state": "sold"}, *clean], AID).ok
    assert checks.closes_once([view("sold")], AID).ok  # conflated down to the last one
    twice = [view("running"), view("won"), view("running", 4, 1700), view("won", 4, 1700)]
    got = checks.closes_once(twice, AID)
    assert not got.ok and "2 closes" in got.detail
    changed = [view("running"), view("won"), view("sold", price=1700)]
    assert not checks.closes_once(changed, AID).ok
    other_winner = [view("running"), view("won"), view("sold", vid="vBob")]
    assert not checks.closes_once(other_winner, AID).ok
    assert not checks.closes_once([view("running")], AID).ok  # never closed
    assert not checks.closes_once([], AID).ok
    went_back = [view("running", 3, 1600), view("running", 2, 1500), view("won")]
    got = checks.closes_once(went_back, AID)
    assert not got.ok and "went back 1 time" in got.detail
    ok = checks.closes_once(clean, AID, overtaken=2)
    assert ok.ok and "2 older ones overtaken" in ok.detail


def order(**changes: Any) -> dict[str, Any]:
    return {"id": "o_1", "buyer_vid": "vAnn", "amount": 1600, "charge_id": "ch_1", **changes}


def test_winner_charged_needs_one_paid_order_for_the_winner_at_the_price() -> None:
    final = {**view("sold"), "order_id": "o_1"}
    assert checks.winner_charged(final, [order(), order(id="o_2", buyer_vid="vX")]).ok
    assert not checks.winner_charged(final, []).ok
    assert not checks.winner_charged(final, [order(), order()]).ok
    assert not checks.winner_charged(final, [order(buyer_vid="vBob")]).ok
    assert not checks.winner_charged(final, [order(amount=1500)]).ok
    assert not checks.winner_charged(final, [order(charge_id="free")]).ok
    assert not checks.winner_charged({**view("unpaid"), "order_id": None}, [order()]).ok
    assert not checks.winner_charged(None, [order()]).ok


def level(initial: int, available: int, reserved: int, sold: int) -> dict[str, int]:
    return {"initial": initial, "available": available, "reserved": reserved, "sold": sold}


def test_the_stock_invariant_holds_at_every_reading_and_ends_sold() -> None:
    during = [level(1, 0, 1, 0), level(1, 0, 1, 0)]
    assert checks.stock_invariant(during, level(1, 0, 0, 1)).ok
    broken = checks.stock_invariant([level(1, 0, 1, 1)], level(1, 0, 0, 1))
    assert not broken.ok and "initial 1 != 2" in broken.detail
    assert not checks.stock_invariant(during, level(1, 1, 0, 0)).ok  # back in stock
    assert not checks.stock_invariant(during, level(1, 0, 1, 0)).ok  # still held
    assert not checks.stock_invariant(during, None).ok


def report(ok: bool = True, **changes: Any) -> dict[str, Any]:
    names = ("one winner, right price", "every bid answered definitely", "closes exactly once",
             "winner charged", "stock invariant")  # fmt: skip
    rep: dict[str, Any] = {
        "scenario": "auction", "room": "lt</title><script>alert(1)</script>",
        "command": "livecart loadtest --scenario auction",
        "config": {"viewers": 300, "bidders": 100, "storm_s": 2.0, "duration_s": 5,
                   "counter_s": 1, "procs": 1, "seed": 7},
        "viewers_joined": 300,
        "bids": {"planned": 100, "answered": 98, "unsent": 0, "accepted": 90,
                 "refused": {"bid_too_low": 7, "<b>odd</b>": 1}},
        "accepted_per_s": 45.0,
        "bid_ms": {"p50": 12.0, "p90": 30.0, "p99": 120.0, "max": 140.0},
        "bid_ms_histogram": auction_html.buckets([3.0, 12.0, 120.0, 9000.0]),
        "resets": 40,
        "final": {"state": "sold", "price": 1600, "winner_vid": "vAnn", "bids": 90,
                  "order_id": "o_1"},
        "expected": {"price": 1600, "winners": ["vAnn"]},
        "orders": 1, "pass": ok,
        "reasons": [] if ok else ["winner charged: order o_1 has no charge ('free')"],
        "checks": [{"name": n, "ok": ok or n != "winner charged", "detail": f"saw {n}"}
                   for n in names],
    }  # fmt: skip
    rep.update(changes)
    return rep


def test_the_page_has_every_section_and_loads_nothing() -> None:
    page = auction_html.render_html(report())
    for section in ("verdict", "latency", "bids", "checks", "final"):
        assert page.count(f'<section id="{section}">') == 1
    assert "<script" not in page and not re.search(r"(src|href)\s*=", page)
    assert "&lt;/title&gt;&lt;script&gt;" in page and "&lt;b&gt;odd&lt;/b&gt;" in page
    assert page.count(">PASS<") == 7  # the verdict, the latency goal and five checks
    assert ">FAIL<" not in page and "refused: bid_too_low" in page and "no reply" in page
    for label in ("p50", "p90", "p99", "max", "≤5", "≤20", "≤150", "&gt;5000", "stock invariant"):
        assert label in page
    assert [n for _, n in report()["bid_ms_histogram"]] == [1, 0, 1, 0, 0, 1] + [0] * 7 + [1]


def test_a_failed_check_shows_as_fail_with_its_reason() -> None:
    page = auction_html.render_html(report(ok=False, bid_ms={"p50": 90.0, "p99": 400.0}))
    verdict = page.split('<section id="verdict">')[1].split("</section>")[0]
    assert ">FAIL<" in verdict and "has no charge" in verdict
    checks_part = page.split('<section id="checks">')[1].split("</section>")[0]
    assert checks_part.count(">FAIL<") == 1 and checks_part.count(">PASS<") == 4
    latency = page.split('<section id="latency">')[1].split("</section>")[0]
    assert ">FAIL<" in latency  # p99 over the 250 ms goal
