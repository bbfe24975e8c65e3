"""``livecart loadtest`` against a real server (``livecart serve`` on a free port, the
session's real Redis): a few hundred viewers for a few seconds per scenario.

What the load tester counts must agree with what the server says: batch frames received
= ``deliveries`` in ``/metrics``, orders confirmed to buyers = the ``/figures``, hearts
tapped = the room's ``hearts_total``. The books check must pass on an honest shop and
fail on one made inconsistent on purpose (a unit sold without an order, written to
Redis directly). The HTML report must open in headless Chromium with its plots drawn.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bench.localserver import http_json, serve_argv, spawn_server
from livecart.loadtest.server_counters import server_counters
from livecart.redis_process import RedisProcess, free_port
from tests.chromium import CHROMIUM, CHROMIUM_ARGS

ADMIN = "adm_loadtest_e2e"


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[str]:
    """One ``livecart serve`` process for the module; every test uses its own room."""
    if not redis_server.running:
        redis_server.start()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="livecart-loadtest-e2e-") as tmp:
        argv = serve_argv(port, redis_server.url, ADMIN, tmp)
        with spawn_server(argv, f"http://127.0.0.1:{port}/healthz", Path(tmp) / "server.log"):
            yield f"http://127.0.0.1:{port}"


def loadtest(
    server: str, room: str, out: Path, *extra: str, viewers: int = 300
) -> tuple[int, dict[str, Any], str]:
    """Run the CLI; return its exit code, the report and what it printed."""
    argv = [
        sys.executable,
        "-m",
        "livecart",
        "loadtest",
        "--url",
        server,
        "--room",
        room,
        "--viewers",
        str(viewers),
        "--duration",
        "3",
        "--ramp",
        "1s",
        "--procs",
        "1",
        "--admin-token",
        ADMIN,
        "--out",
        str(out),
        "--seed",
        "5",
        *extra,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    report = json.loads((out / "report.json").read_text())
    return done.returncode, report, done.stdout


def metrics(server: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server}/metrics", timeout=10) as resp:
        return dict(server_counters(resp.read().decode()))


def assert_agrees_with_metrics(
    before: dict[str, Any], after: dict[str, Any], rep: dict[str, Any]
) -> None:
    delivered = after["deliveries"] - before["deliveries"]
    received = rep["summary"]["received"]["batches"]
    assert delivered > 0
    # Frames written in the very last tick may race the clients' closing.
    assert abs(delivered - received) <= max(5, delivered // 200), (delivered, received)


@pytest.mark.parametrize("scenario", ["watch", "chat", "video", "join-storm"])
def test_scenarios_count_what_the_server_delivered(
    server: str, tmp_path: Path, scenario: str
) -> None:
    room = f"lt-{scenario}"
    before = metrics(server)
    code, rep, out = loadtest(
        server,
        room,
        tmp_path,
        "--scenario",
        scenario,
        "--slo",
        "connected>=100%",
        "--slo",
        "errors<1%",
    )
    after = metrics(server)
    s = rep["summary"]
    assert code == 0, out
    assert rep["verdict"] == "pass" and s["connected_peak"] == 300
    assert s["connect_failures"] == 0 and s["drops"] == 0 and s["gaps"] == 0
    assert_agrees_with_metrics(before, after, rep)
    assert s["server_counters"]["deliveries"] == after["deliveries"] - before["deliveries"]
    assert s["chat_accepted"] > 0 and s["latency"]["n"] > 0
    # Every chat the clients sent was accepted and counted by the server as a command,
    # but for those in flight on a connection the join storm closed on purpose.
    assert s["chat_accepted"] + s["chat_abandoned"] == s["chat_sent"]
    assert s["chat_abandoned"] <= (5 if scenario == "join-storm" else 0)
    assert after["commands"] - before["commands"] >= s["commands"]
    assert [line for line in out.splitlines() if line.startswith("[")], "no progress lines"
    if scenario == "video":
        # No publisher in this test: every video socket is told the room is offline.
        assert s["video"]["offline"] == 300
    if scenario == "join-storm":
        assert s["rejoin"]["n"] == 150 and s["resumed"] > 0
        assert rep["config"]["ramp"] == 0


def test_video_viewers_get_the_published_stream(server: str, tmp_path: Path) -> None:
    code, rep, out = loadtest(
        server, "lt-video-live", tmp_path, "--scenario", "video", "--publish", viewers=200
    )
    v = rep["summary"]["video"]
    assert code == 0, out
    assert v["live"] == 200 and v["offline"] == 0
    assert v["frames_per_s"] > 200 * 30  # video frames at 30/s (and audio) to every viewer
    assert v["behind_live"]["n"] > 0 and v["behind_live"]["p50"] < 500


def test_hearts_reach_the_room_total(
    server: str, tmp_path: Path, redis_server: RedisProcess
) -> None:
    before = metrics(server)
    code, rep, out = loadtest(
        server, "lt-hearts", tmp_path, "--scenario", "hearts", "--heart-rate", "600"
    )
    after = metrics(server)
    assert code == 0, out
    taps = rep["summary"]["hearts"]["taps"]
    assert taps > 500 and rep["summary"]["errors"]["count"] == 0
    assert_agrees_with_metrics(before, after, rep)
    # The room's hearts total in Redis (what every node adds up): each tap counted once.
    # (Not the live value of GET /api/rooms/{room}: a node can count a tap twice there
    # when its presence read overtakes the tap's pub/sub message.)
    total = 0
    with redis.Redis.from_url(redis_server.url) as r:
        for _ in range(40):  # a node publishes its hearts every tick
            total = int(r.get("lc:{lt-hearts}:hearts") or 0)
            if total >= taps:
                break
            time.sleep(0.1)
    assert total == taps


def test_mixed_run_report_opens_in_chromium_with_its_plots(server: str, tmp_path: Path) -> None:
    before = metrics(server)
    code, rep, out = loadtest(
        server,
        "lt-mixed",
        tmp_path,
        "--scenario",
        "mixed",
        "--procs",
        "2",
        "--slo",
        "p99<5s",
        "--slo",
        "buy_p99<5000ms",
    )
    after = metrics(server)
    s = rep["summary"]
    assert code == 0, out
    assert rep["verdict"] == "pass" and s["books"]["ok"], s["books"]
    assert len(s["generator"]["cpu_percent_avg"]) == 2
    assert s["explain"] > 0 and s["hearts"]["taps"] > 0 and s["buys"]["pressed"] == 60
    assert_agrees_with_metrics(before, after, rep)
    figures = http_json(f"{server}/api/rooms/lt-mixed/figures", token=ADMIN)
    assert figures["orders"] == s["buys"]["ordered"] == s["books"]["confirmed_to_buyers"]
    assert ADMIN not in rep["command"]
    assert ADMIN not in (tmp_path / "report.html").read_text()
    drawn = open_report(tmp_path / "report.html")
    assert drawn["verdict"] == "PASS"
    assert drawn["plots"] >= 6
    assert all(n > 0 for n in drawn["points"]), drawn
    assert drawn["requests"] == [], "the report must not load anything"


def open_report(path: Path) -> dict[str, Any]:
    """Open the page in headless Chromium (offline) and read what it drew."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on(
                "request", lambda r: None if r.url.startswith("file:") else requests.append(r.url)
            )
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-drawn]", timeout=10_000)
            points = page.eval_on_selector_all(
                "svg.plot", "els => els.map(e => Number(e.getAttribute('data-points')))"
            )
            result = {
                "plots": len(points),
                "points": points,
                "verdict": page.inner_text("#verdict"),
                "requests": requests,
            }
        finally:
            browser.close()
    assert not errors, errors
    return result


def test_flash_sale_books_agree_with_figures(server: str, tmp_path: Path) -> None:
    code, rep, out = loadtest(
        server,
        "lt-flash",
        tmp_path,
        "--scenario",
        "flash-sale",
        "--units",
        "40",
        "--slo",
        "unresolved<1",
        "--slo",
        "oversold<1",
    )
    s = rep["summary"]
    assert code == 0, out
    b, k = s["buys"], s["books"]
    assert b["pressed"] == b["definite"] == 300 and b["unresolved"] == 0
    assert b["reserved"] == 40 and b["outcomes"]["sold_out"] == 260
    figures = http_json(f"{server}/api/rooms/lt-flash/figures", token=ADMIN)
    pid = rep["sale"]["product_id"]
    assert figures["orders"] == b["ordered"] == k["confirmed_to_buyers"] == k["orders"]
    assert figures["units_sold"] == k["sold"] == b["ordered"]
    stock = figures["stock"][pid]
    assert stock["sold"] + stock["reserved"] == 40 and stock["available"] == 0
    assert k["ok"] and k["oversold"] == 0
    assert "books            OK" in out


def test_books_check_fails_on_a_shop_made_inconsistent(
    server: str, tmp_path: Path, redis_server: RedisProcess
) -> None:
    """One unit marked sold without an order, written to Redis directly: the run fails
    and the report says why."""
    room = "lt-broken"
    created = http_json(f"{server}/api/rooms", {"id": room, "title": "x", "host": "Mia"}, ADMIN)
    token: str = created["host_token"]

    def host(cmd: dict[str, Any]) -> dict[str, Any]:
        answer = http_json(f"{server}/api/rooms/{room}/commands", cmd, token)
        data: dict[str, Any] = answer["data"]
        return data

    pid = host(
        {
            "cmd": "add_product",
            "name": "Bag",
            "price": 5000,
            "currency": "CNY",
            "image_url": "/img/bag.png",
            "stock": 30,
        }
    )["product"]["id"]
    host(
        {
            "cmd": "open_sale",
            "product_id": pid,
            "price": 4000,
            "currency": "CNY",
            "units": 30,
            "limit": 1,
        }
    )
    with redis.Redis.from_url(redis_server.url) as r:
        r.hincrby(f"lc:{{{room}}}:stock:{pid}", "sold", 1)
    code, rep, out = loadtest(
        server,
        room,
        tmp_path,
        "--scenario",
        "flash-sale",
        "--product",
        pid,
        "--host-token",
        token,
        viewers=100,
    )
    k = rep["summary"]["books"]
    assert code == 1, out
    assert rep["verdict"] == "fail" and "books" in rep["failed"]
    assert not k["ok"] and not k["audit_ok"]
    text = "\n".join(k["problems"])
    assert "server books check" in text and "the orders stream has" in text
    assert "books            FAILED" in out and "verdict          FAIL" in out
    assert token not in (tmp_path / "report.html").read_text()
