"""``python -m bench`` end to end at a small scale: its own Redis and server processes,
client processes, real sockets. The chat benchmark (on ``--server-workers 2``) reports
the latency from the sender's clock beside the server-stamped one and every stage; the
join storm opens every socket within its window with no handshake refused; ``/api/stats``
shows one worker's stage histograms."""

from __future__ import annotations

import argparse
import time

import aiohttp

from bench import __main__ as bench_main
from bench import chat_fanout, join_storm, procstat
from livecart.delivery_stages import STAGES
from livecart.loadtest.wsclient import stamped_text
from tests.hubclient import Node, connect, create_room


def bench_args(*argv: str) -> argparse.Namespace:
    return bench_main.parser().parse_args(argv)


def test_chat_bench_measures_from_the_senders_clock_and_reports_every_stage() -> None:
    args = bench_args(
        "--viewers", "50", "--rate", "20", "--duration", "3", "--sample", "10",
        "--server-workers", "2",
    )  # fmt: skip
    r = chat_fanout.run(args)
    assert r["viewers"] == 50
    assert r["server_processes"] == 3  # the supervisor and its 2 workers, all counted
    assert r["gaps"] == 0 and r["closed"] == 0
    assert r["refused"] == {}  # each sender sends 3, within its burst of 3: none refused
    assert r["rate_offered"] > 15 and r["accepted_per_s"] > 15
    # per message, receive - send = (receive - ts) + (ts - send), and ts - send >= 0 up to
    # the 0.1 ms both clocks are rounded to: so the percentiles keep that order too
    assert r["to_stamp_p50_ms"] >= -0.2
    assert r["sent_p50_ms"] >= r["p50_ms"] - 0.2
    assert r["sent_p99_ms"] >= r["p99_ms"] - 0.2
    assert 0 < r["sent_p99_ms"] < 5000
    stages = r["stages"]
    expected = {name for name, _ in chat_fanout.STAGE_LINES}
    assert set(stages) == expected
    for name, figure in stages.items():
        assert figure["count"] > 0, name
        assert figure["p50_ms"] is not None and 0 <= figure["p50_ms"] <= figure["p99_ms"], name
        assert figure["p99_ms"] < 5000, name
    # each message is emitted on one worker and applied on both (both have viewers)
    emitted = stages["emit_round_trip"]["count"]
    assert emitted >= 50
    assert stages["stamp_to_applied"]["count"] >= 1.5 * emitted
    assert stages["read_to_stamp"]["count"] >= emitted
    assert len(r["client_timer_p99_ms"]) == len(r["client_cpu_percent"]) == 1
    assert r["rss_per_viewer_kib"] is not None
    text = chat_fanout.report(r)
    assert "latency, sender's clock" in text and "latency, server-stamped" in text
    assert "e  applied -> room flush starts" in text


def test_join_storm_gets_every_snapshot_and_refuses_no_handshake() -> None:
    args = bench_args("--scenario", "join-storm", "--viewers", "200", "--procs", "2")
    r = join_storm.run(args)
    assert r["snapshots"] == 200
    assert r["refused"] == r["timeouts"] == r["failed"] == 0
    assert r["client_procs"] == 2 and len(r["client_cpu_percent"]) == 2
    assert r["last_snapshot_s"] is not None
    # the last socket opens about 1 s after the start, and its snapshot comes after that
    assert 0.9 < r["last_snapshot_s"] < 15
    assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] < 15_000
    assert set(r["kernel"]) == set(procstat.LISTEN_COUNTERS)
    assert r["tick"] is not None and r["tick"]["count"] > 0  # the server's side of it
    assert r["tick_late"] is not None and r["tick_late"]["count"] > 0
    assert "refused 0, timed out 0, failed 0" in join_storm.report(r)


async def test_api_stats_shows_this_workers_stage_histograms(
    http: aiohttp.ClientSession, node: Node
) -> None:
    await create_room(http, node)
    viewer = await connect(http, node, name="Ann")
    reply = await viewer.command("chat", text=stamped_text("hello stages", time.time() * 1000))
    assert reply["ok"], reply
    await viewer.wait_for(lambda c: any("hello stages" in t for t in c.chat_texts()))
    async with http.get(f"{node.url}/api/stats") as resp:
        stats = await resp.json()
    histograms = stats["histograms"]
    assert set(histograms["stages"]) == {name for name, _ in STAGES}
    for name, h in histograms["stages"].items():
        assert h["count"] >= 1, name
        assert h["le"][-1] == ["+Inf", h["count"]], name
        assert [n for _, n in h["le"]] == sorted(n for _, n in h["le"]), name  # cumulative
    assert histograms["tick_duration"]["count"] >= 1
    assert histograms["delivery_latency"]["count"] >= 1
    await viewer.ws.close()
