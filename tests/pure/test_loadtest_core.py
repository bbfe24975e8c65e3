"""The load tester's pure parts: no event loop, no sockets, no clock."""

from __future__ import annotations

import argparse
import json
import random
import struct
from typing import Any

import pytest

from bench import flash_sale, video
from bench.peers.compare import judge, next_rate
from livecart.loadtest import books
from livecart.loadtest.pacing import Credit, RoundRobin
from livecart.loadtest.purchase import CARD, MAX_ATTEMPTS, Purchase
from livecart.loadtest.report import render_html
from livecart.loadtest.scenarios import (
    BUYER,
    CHATTER,
    PAYER,
    SAMPLE,
    assign,
    behaviour,
    seconds,
    split,
    timeline,
)
from livecart.loadtest.slo import Slo, verdicts
from livecart.loadtest.stats import Histogram, exact_percentile
from livecart.loadtest.target import Target, TargetRefused
from livecart.loadtest.worker_counts import SaleFigures, WorkerCounts
from livecart.loadtest.worker_report import WorkerState, final, snapshot
from livecart.loadtest.wsclient import JSON, FrameReader, Viewer, ViewerStats, client_frame

# -- histograms ------------------------------------------------------------------------


def test_histogram_percentiles_are_within_two_percent_and_merge() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1) for _ in range(20_000)]
    a, b = Histogram(), Histogram()
    a.add_many(values[:12_000])
    b.add_many(values[12_000:])
    a.merge(Histogram.from_dict(json.loads(json.dumps(b.to_dict()))))
    assert a.n == len(values) and a.max == max(values)
    for q in (0.5, 0.9, 0.99):
        exact = exact_percentile(values, q)
        assert exact is not None
        got = a.percentile(q)
        assert got is not None and abs(got - exact) / exact < 0.02
    assert a.percentile(1.0) == max(values)
    assert Histogram().percentile(0.5) is None


# -- pacing ----------------------------------------------------------------------------


def test_credit_fills_at_its_rate_up_to_the_burst() -> None:
    credit = Credit(rate=4.0, burst=3.0)
    credit.fill(0.5)
    assert credit.covers(2) and not credit.covers(2.5)
    credit.fill(10)
    credit.keep()
    assert credit.units == 3.0 and credit.missed == 0  # not counting yet
    credit.spend(3)
    assert not credit.covers(1)


def test_credit_counts_what_was_due_and_what_no_one_could_spend() -> None:
    credit = Credit(rate=4.0, burst=3.0, counting=True)
    credit.fill(0.5)
    credit.spend(2)  # a turn spends what it can before the burst is kept
    credit.keep()
    assert credit.due == 2 and credit.missed == 0 and credit.units == 0
    credit.fill(2)  # 8 units due and nobody to spend them: 3 kept, 5 missed
    credit.keep()
    assert credit.due == 10 and credit.missed == 5 and credit.units == 3
    credit.miss(1)  # spent on a command that could not be sent
    assert credit.missed == 6


def test_round_robin_takes_turns_and_keeps_each_member_to_its_gap() -> None:
    group = RoundRobin([10, 11, 12], gap=1.0)
    acted: list[tuple[int, int]] = []

    def act(i: int, turn: int) -> bool:
        acted.append((i, turn))
        return i != 11  # 11 cannot act (no connection): it pays nothing

    credit = Credit(rate=100, burst=100, units=5)
    group.spend(0.0, credit, 2, act)
    assert acted == [(10, 1), (11, 2), (12, 3)] and credit.units == 1
    credit.units = 10
    group.spend(0.5, credit, 2, act)  # 10 and 12 are within their gap, 11 declines again
    assert acted[3:] == [(11, 5)] and credit.units == 10
    credit.units = 3
    group.spend(1.0, credit, 2, act)  # 10 acts; then the credit no longer covers a go
    assert acted[4:] == [(10, 7)] and credit.units == 1


# -- objectives ------------------------------------------------------------------------


def test_slo_parsing_and_checking() -> None:
    summary = {"latency": {"p99": 120.0}, "errors": {"rate": 0.5}, "buys": None}
    assert Slo.parse("p99<250ms").check(summary)["ok"]
    assert not Slo.parse("p99 < 0.1s").check(summary)["ok"]  # 100 ms
    assert Slo.parse("errors<1%").check(summary)["ok"]
    assert not Slo.parse("errors<=0.1").check(summary)["ok"]
    missing = Slo.parse("buy_p99<500ms").check(summary)
    assert missing["value"] is None and not missing["ok"]
    results = verdicts([Slo.parse("p99>=120"), Slo.parse("p99>120")], summary)
    assert [r["ok"] for r in results] == [True, False]
    for bad in ("p99", "p99<", "latency<3ms", "errors<3ms", "p99<3%", "p99=3"):
        with pytest.raises(ValueError):
            Slo.parse(bad)


# -- the target ------------------------------------------------------------------------


def test_only_loopback_targets_unless_allowed() -> None:
    assert Target.parse("http://127.0.0.1:8080").base == "http://127.0.0.1:8080"
    assert Target.parse("http://localhost:9000/").host == "127.0.0.1"
    assert Target.parse("http://127.1.2.3:80").port == 80
    assert Target.parse("http://[::1]:8080").base == "http://[::1]:8080"
    for refused in (
        "http://10.0.0.5:8080",
        "http://example.com",
        "http://127.0.0.1.example.com:80",
        "https://127.0.0.1:8443",
        "ws://127.0.0.1:8080",
        "http://127.0.0.1:8080/api",
        "http://user@127.0.0.1:8080",
    ):
        with pytest.raises(TargetRefused):
            Target.parse(refused)
    assert Target.parse("http://shop.example:8080", allow_remote=True).host == "shop.example"


# -- scenarios -------------------------------------------------------------------------


def test_assign_gives_each_role_its_share_and_split_keeps_the_mix() -> None:
    b = behaviour("mixed", chat_rate=40, buyers=0.5, pay=0.6)
    specs = assign(1000, b, samples=40, ramp=10.0, seed=3)
    assert [s.index for s in specs] == list(range(1000))
    assert sum(1 for s in specs if s.flags & SAMPLE) == 40
    assert sum(1 for s in specs if s.flags & CHATTER) == 60  # 40 msg/s at 1 per 1.25 s, +20 %
    buyers = [s for s in specs if s.flags & BUYER]
    assert len(buyers) == 500 and sum(1 for s in buyers if s.flags & PAYER) == 300
    assert all(0 <= s.buy_at < 1.0 for s in buyers)
    assert specs[-1].join_at < 10.0 and specs[0].join_at == 0.0
    assert assign(1000, b, samples=40, ramp=10.0, seed=3) == specs  # seeded
    parts = split(specs, 3)
    assert sorted(s.index for p in parts for s in p) == list(range(1000))
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
    storm = assign(100, behaviour("join-storm"), samples=4, ramp=30.0)
    assert {s.join_at for s in storm} == {0.0}


def test_durations_and_timeline() -> None:
    assert seconds("30s") == 30 and seconds("500ms") == 0.5 and seconds("2m") == 120
    assert seconds("1.5") == 1.5
    with pytest.raises(ValueError):
        seconds("soon")
    tl = timeline(behaviour("mixed"), ramp=10, duration=60)
    assert tl.sale_open == 10 + 0.4 * 60 and tl.end == 70
    short = timeline(behaviour("flash-sale"), ramp=1, duration=3)
    assert short.sale_open is not None and 0 < short.sale_open <= short.end
    storm = timeline(behaviour("join-storm"), ramp=10, duration=20)
    assert storm.ramp == 0 and storm.storm_at == 10


# -- one purchase ----------------------------------------------------------------------


def ok(data: dict[str, Any]) -> dict[str, Any]:
    return {"t": "reply", "ok": True, "data": data}


def err(code: str, retry_after: float | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"code": code, "message": code}
    if retry_after is not None:
        e["retry_after"] = retry_after
    return {"t": "reply", "ok": False, "error": e}


def test_purchase_buys_pays_and_retries_with_the_same_keys() -> None:
    p = Purchase(viewer=1, product_id="p1", payer=True, think=0.5)
    first = p.press(0.0)
    assert first.kind == "buy" and first.command == p.buy_command()
    key = p.key
    again = p.on_reply(err("unavailable"), 0.1)
    assert again is not None and again.kind == "buy" and again.command is not None
    assert again.command["key"] == key and again.delay > 0
    pay = p.on_reply(ok({"reservation": {"id": "r_1"}}), 0.25)
    assert p.outcome == "reserved" and p.reply_ms == 250
    assert pay is not None and pay.kind == "pay" and pay.delay == 0.5 and pay.command is not None
    assert pay.command["card"] == CARD and pay.command["reservation_id"] == "r_1"
    pay_key = pay.command["key"]
    retry = p.on_reply(err("in_progress", 0.2), 1.0)
    assert retry is not None and retry.command is not None and retry.command["key"] == pay_key
    assert retry.delay == 0.2
    assert p.on_reply(ok({"order": {"id": "o_1"}}), 1.3) is None
    assert p.state == "ordered" and p.order_id == "o_1" and p.definite_keys == 1
    assert p.on_reply(ok({"order": {"id": "o_1"}}), 1.4) is None  # a late duplicate


def test_worker_reports_count_a_paid_purchase_and_reset_each_second() -> None:
    p = Purchase(viewer=1, product_id="p1", payer=True, think=0.5)
    counts, sales = WorkerCounts(), SaleFigures()
    p.press(0.0)
    p.on_reply(ok({"reservation": {"id": "r_1"}}), 0.2)
    sales.record(p, 0.2)
    p.on_reply(ok({"order": {"id": "o_1"}}), 1.0)
    sales.record(p, 1.0)
    counts.join.add(12.0)
    counts.sampled.latencies.extend([5.0, 7.0])
    counts.video_delays.append(40.0)
    state = WorkerState(3, 1.0, 0.1, [], [], [], [p], 0, counts, sales)
    tick = snapshot(state)
    assert tick["w"] == 3 and tick["keys"] == 1 and tick["definite_keys"] == 1
    assert tick["buys"] == {"reserved": 1, "ordered": 1}
    assert tick["lat"]["n"] == 2 and tick["join"]["n"] == 1 and tick["video"]["lat"]["n"] == 1
    assert tick["buy_lat"]["n"] == 1  # the reply to buy (the order is a state event)
    again = snapshot(state)  # the second's histograms were taken by the first tick
    assert again["lat"]["n"] == again["join"]["n"] == again["buy_lat"]["n"] == 0
    assert again["video"]["lat"]["n"] == 0 and counts.video_delays == []
    summary = final(state)
    assert summary["orders"] == ["o_1"] and summary["ordered_units"] == 1
    assert summary["states"] == {"ordered": 1}
    assert summary["pay_ms"] == [pytest.approx(300)]  # "pay" after the think time, at 0.7 s


def test_purchase_refusals_countdowns_abandon_and_give_up() -> None:
    p = Purchase(viewer=2, product_id="p1", payer=False, think=1)
    p.press(0)
    assert p.on_reply(ok({"reservation": {"id": "r_2"}}), 0.1) is None
    assert p.state == "abandoned"

    p = Purchase(viewer=3, product_id="p1", payer=True, think=1)
    p.press(0)
    assert p.on_reply(err("sold_out"), 0.2) is None
    assert p.state == "refused" and p.outcome == "sold_out" and p.definite_keys == 1

    p = Purchase(viewer=4, product_id="p1", payer=True, think=1)
    p.press(0)
    first_key = p.key
    step = p.on_reply(err("sale_not_open", 0.4), 0.1)
    assert step is not None and step.kind == "press" and step.delay > 0.4
    assert p.key != first_key and p.state == "waiting"  # a new tap, a new key
    p.press(0.6)
    assert p.presses == 2

    p = Purchase(viewer=5, product_id="p1", payer=True, think=1)
    p.press(0)
    now = 0.0
    for _ in range(MAX_ATTEMPTS - 1):
        now += 10
        assert p.on_timeout(now) is not None  # same key again
    assert p.on_timeout(now + 10) is None and p.state == "unresolved"
    assert p.definite_keys == 0

    p = Purchase(viewer=6, product_id="p1", payer=True, think=1)
    p.press(0)
    p.give_up(1)
    assert p.state == "unresolved"


# -- the books check -------------------------------------------------------------------


def reading(
    sold: int, reserved: int, available: int, orders: list[str], audit_ok: bool = True
) -> dict[str, Any]:
    stock = {"initial": 10, "available": available, "reserved": reserved, "sold": sold}
    return {
        "audit": {"ok": audit_ok, "problems": [] if audit_ok else ["p1: broken"]},
        "figures": {"orders": len(orders), "units_sold": sold, "stock": {"p1": stock}},
        "orders": [{"id": o, "product_id": "p1", "qty": 1} for o in orders],
    }


def test_books_check_passes_when_everything_agrees() -> None:
    before = reading(0, 0, 10, [])
    after = reading(3, 2, 5, ["o1", "o2", "o3"])
    buyers = {
        "keys": 40,
        "definite_keys": 40,
        "orders": ["o1", "o2", "o3"],
        "ordered_units": 3,
        "reserved_units": 5,
    }
    result = books.check(before, after, buyers, {"product_id": "p1", "units": 10})
    assert result["ok"], result["problems"]
    assert (result["sold"], result["orders"], result["oversold"], result["held"]) == (3, 3, 0, 2)


def test_books_check_reports_every_broken_promise() -> None:
    before = reading(0, 0, 10, [])
    # One unit sold without an order, one confirmed order missing, a buy without reply.
    after = reading(3, 0, 7, ["o1", "o9"], audit_ok=False)
    buyers = {
        "keys": 40,
        "definite_keys": 39,
        "orders": ["o1", "o2"],
        "ordered_units": 2,
        "reserved_units": 11,
    }
    result = books.check(before, after, buyers, {"product_id": "p1", "units": 10})
    assert not result["ok"]
    text = "\n".join(result["problems"])
    assert "server books check: p1: broken" in text
    assert "3 units sold in the stock, buyers were confirmed 2" in text
    assert "['o2']" in text and "['o9']" in text
    assert "oversold by 1" in text and result["oversold"] == 1
    assert "1 of 40 buys got no definite reply" in text


# -- frames ----------------------------------------------------------------------------


def server_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def test_frame_reader_counts_light_frames_and_keeps_control_frames() -> None:
    stream = (
        server_frame(b"a" * 10)
        + server_frame(b"b" * 300)
        + server_frame(b"ping!", 0x9)
        + server_frame(b"c" * 70_000)
        + server_frame(b"2", 0x1)
    )
    light = FrameReader(keep=False, keep_small=1)
    got: list[tuple[int, bytes]] = []
    for i in range(0, len(stream), 777):  # arbitrary splits
        got += light.feed(stream[i : i + 777])
    assert light.frames == 5 and light.control == 1 and light.bytes == len(stream)
    assert got == [(0x9, b"ping!"), (0x1, b"2")]
    keep = FrameReader(keep=True)
    frames = keep.feed(stream)
    assert [len(p) for _, p in frames] == [10, 300, 5, 70_000, 1]
    assert client_frame(b"hi")[:6] == b"\x81\x82\x00\x00\x00\x00"


async def test_the_video_bench_counts_fragments_in_any_split() -> None:
    def fragment(track: int, produced_us: int) -> bytes:
        return server_frame(
            bytes((2, 0, 0, track, 0, 0, 0, 0)) + struct.pack("!Q", produced_us), 0x2
        )

    stream = (
        server_frame(b'{"type":"waiting"}', 0x1)
        + fragment(0, 1_000_000) + server_frame(b"v" * 70_000, 0x2)
        + fragment(1, 2_000_000) + server_frame(b"ping", 0x9)
        + fragment(0, 3_000_000)
    )  # fmt: skip
    delays: list[float] = []
    viewer = video._Viewer("key", delays, record=True)
    viewer.upgraded = True
    for i in range(0, len(stream), 333):
        viewer.data_received(stream[i : i + 333])
    assert (viewer.fragments, viewer.audio_fragments, bytes(viewer.buf)) == (2, 1, b"")
    assert len(delays) == 2 and abs(delays[0] - delays[1] - 2.0) < 0.5  # 1 s and 3 s


# -- the peers comparison --------------------------------------------------------------


def test_rate_search_doubles_halves_then_bisects() -> None:
    assert next_rate(None, None, 40, 1000) == 80
    assert next_rate(None, None, 1000, 1000) is None  # the cap passed
    assert next_rate(None, 40, 40, 1000) == 20
    assert next_rate(20, 40, 40, 1000) == 28
    assert next_rate(28, 33, 33, 1000) is None  # within 25 %
    assert next_rate(3, 4, 4, 1000) is None  # nothing new between them
    part = {
        "sent": 100,
        "sending_s": 4.0,
        "elapsed": 5.0,
        "samples": 10,
        "sample_chat": 1000,
        "lat": Histogram().to_dict(),
        "closed": 0,
        "cpu": 1.0,
        "cpu_sending": 1.0,
    }
    assert not judge([part], 1000, 2.0)["ok"]  # no latency measured: not a pass
    h = Histogram()
    h.add_many([10.0] * 100)
    step = judge([{**part, "lat": h.to_dict()}], 1000, 2.0)
    assert step["ok"] and step["deliveries_per_cpu_s"] == 50_000 and step["rate"] == 25


# -- the report page -------------------------------------------------------------------


def test_report_page_is_self_contained_and_script_safe() -> None:
    rep: dict[str, Any] = {"scenario": "watch", "room": "r", "note": "</script><b>x</b>"}
    page = render_html(rep)
    assert "</script><b>" not in page
    assert "__REPORT_JSON__" not in page
    for external in ('src="http', "src='http", 'href="http', "@import", "url(http"):
        assert external not in page


def test_flash_bench_asks_the_load_test_for_the_issue_3_workload() -> None:
    bench = argparse.Namespace(viewers=5000, procs=None, units=100)
    ns = flash_sale.loadtest_args(bench, "http://127.0.0.1:1", "adm")
    assert (ns.scenario, ns.viewers, ns.units, ns.limit, ns.buyers, ns.pay) == (
        "flash-sale",
        5000,
        100,
        1,
        1.0,
        1.0,
    )
    assert ns.chat_rate == 0 and ns.admin_token == "adm" and not ns.publish and ns.quiet
    assert "buy_p99<500ms" in ns.slo and ns.product is None


async def test_a_viewer_follows_a_fresh_snapshot_mid_connection() -> None:
    """After a datastore loss the server sends a new snapshot at a lower seq; what
    follows it is neither a repeat nor a gap."""
    stats = ViewerStats()
    viewer = Viewer("/ws/r1", True, JSON, stats)
    viewer.measuring = True

    def frame(obj: dict[str, object]) -> None:
        viewer.on_message(1, json.dumps(obj).encode())

    def chat(seq: int) -> dict[str, object]:
        return {"seq": seq, "type": "chat", "text": "hi", "ts": 0}

    frame({"t": "snapshot", "seq": 20, "epoch": "e1", "recovered": False})
    frame({"t": "batch", "events": [chat(21), chat(22)]})
    frame({"t": "snapshot", "seq": 15, "epoch": "e2", "recovered": False})
    frame({"t": "batch", "events": [chat(16), chat(17)]})
    assert (stats.chat, stats.repeats, stats.gaps) == (4, 0, 0)
    assert (viewer.seq, viewer.epoch) == (17, "e2")
