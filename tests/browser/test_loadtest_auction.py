"""``livecart loadtest --scenario auction`` against a real server (``livecart serve`` on
a free port, the session's real Redis): 300 viewers, 100 of them bidding in the last 2 s.

The run must pass ("one winner, right price" and the other correctness checks), and
what it reports must agree with the server: the orders in the show's export, the
auction's price and resets in its state. Its ``report.html`` is one self-contained page
(no script, nothing loaded from elsewhere) with the latency, the bids by outcome and the
checks, each marked PASS.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bench.auction import FsyncWatch
from bench.localserver import http_json, serve_argv, spawn_server
from livecart.redis_process import RedisProcess, free_port

ADMIN = "adm_loadtest_auction"


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[str]:
    if not redis_server.running:
        redis_server.start()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="livecart-loadtest-auction-") as tmp:
        argv = serve_argv(port, redis_server.url, ADMIN, tmp)
        with spawn_server(argv, f"http://127.0.0.1:{port}/healthz", Path(tmp) / "server.log"):
            yield f"http://127.0.0.1:{port}"


def test_the_fsync_watch_reads_what_redis_latency_monitor_recorded(
    redis_server: RedisProcess,
) -> None:
    """``FsyncWatch`` (the auction benchmark's line on the disk's stalls) sets Redis'
    latency monitor and reads its history: a 40 ms script is recorded, and reported."""
    if not redis_server.running:
        redis_server.start()
    watch = FsyncWatch.start(redis_server.url)
    assert watch.stalls("command") == []
    with contextlib.closing(redis.Redis.from_url(redis_server.url)) as client:
        client.eval(BUSY_40_MS, 0)
    assert [ms >= 40 for ms in watch.stalls("command")] == [True]
    assert watch.stalls("command", since=time.time() + 5) == []
    assert "over 10 ms during the auction:" in watch.report()


BUSY_40_MS = """
local t = redis.call("TIME")
local start = t[1] * 1000000 + t[2]
repeat
  t = redis.call("TIME")
until t[1] * 1000000 + t[2] - start >= 40000
return 1
"""


def test_auction_storm_one_winner_at_the_right_price(server: str, tmp_path: Path) -> None:
    argv = [
        sys.executable, "-m", "livecart", "loadtest", "--url", server, "--room", "lt-auction",
        "--scenario", "auction", "--viewers", "300", "--bidders", "100", "--duration", "5",
        "--storm", "2", "--counter", "1", "--procs", "1", "--admin-token", ADMIN,
        "--out", str(tmp_path), "--seed", "7",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    rep = json.loads((tmp_path / "report.json").read_text())
    assert "one winner, right price: PASS" in done.stdout
    assert rep["viewers_joined"] == 300 and rep["bids"]["answered"] == 100
    assert rep["bids"]["accepted"] + sum(rep["bids"]["refused"].values()) == 100
    assert set(rep["bids"]["refused"]) <= {"bid_too_low"}
    assert rep["bid_ms"]["p50"] is not None and rep["accepted_per_s"] > 0
    room = http_json(f"{server}/api/rooms/lt-auction")
    auction = room["auction"]
    assert auction["state"] == "sold" and auction["price"] == rep["expected"]["price"]
    assert auction["resets"] == rep["resets"] and auction["resets"] > 0
    assert auction["winner"]["vid"] in rep["expected"]["winners"]
    orders = http_json(f"{server}/api/rooms/lt-auction/orders.json", token=ADMIN)["orders"]
    assert [o["amount"] for o in orders] == [rep["expected"]["price"]]

    checks = {c["name"]: c["ok"] for c in rep["checks"]}
    assert checks == {
        "one winner, right price": True,
        "every bid answered definitely": True,
        "viewers joined": True,
        "closes exactly once": True,
        "winner charged": True,
        "stock invariant": True,
    }
    assert rep["stock_readings"] >= 2 and rep["bid_ms"]["p90"] is not None
    # where the reply time went: the clients' own lateness and the server's stages
    assert rep["client_timer_ms"]["p99"] is not None
    stages = rep["server_stages"]
    assert stages["emit_round_trip"]["count"] >= rep["bids"]["accepted"]
    assert stages["flush"]["count"] > 0 and stages["tick"]["count"] > 0
    assert rep["auction_started_unix"] > 0
    assert "server over the auction, p50/p99: read_to_stamp" in done.stdout
    assert sum(n for _, n in rep["bid_ms_histogram"]) == 100
    page = (tmp_path / "report.html").read_text()
    for section in ("verdict", "latency", "bids", "checks", "final"):
        assert f'<section id="{section}">' in page
    assert "<script" not in page and not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    checks_html = page[page.index('<section id="checks">') :].split("</section>")[0]
    assert checks_html.count(">PASS<") == 6 and ">FAIL<" not in checks_html
    for name in ("closes exactly once", "winner charged", "stock invariant"):
        assert name in checks_html
    assert "p99" in page and "accepted" in page
    for code in rep["bids"]["refused"]:
        assert f"refused: {code}" in page
