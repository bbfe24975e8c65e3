"""``livecart loadtest`` against a real ``livecart serve`` (a subprocess on a free port,
the session's real Redis) that caps sockets per address: the run fails, says which cap
refused it and how to run the server; the same run passes once the caps are lifted."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.localserver import spawn_server
from livecart.redis_process import RedisProcess, free_port

ADMIN = "adm_loadtest_caps"


def run_against(
    redis_server: RedisProcess, caps: list[str], room: str, out: Path
) -> tuple[int, dict[str, Any], str]:
    """Serve with ``caps``, run 15 viewers for 3 s; the exit code, report and output."""
    if not redis_server.running:
        redis_server.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="livecart-loadtest-caps-") as tmp:
        serve = [
            sys.executable, "-m", "livecart", "serve", "--port", str(port),
            "--redis-url", redis_server.url, "--admin-token", ADMIN, "--no-demo",
            "--data-dir", tmp, *caps,
        ]  # fmt: skip
        with spawn_server(serve, f"{base}/healthz", Path(tmp) / "server.log"):
            loadtest = [
                sys.executable, "-m", "livecart", "loadtest", "--url", base,
                "--room", room, "--admin-token", ADMIN, "--scenario", "watch",
                "--viewers", "15", "--chat-rate", "5", "--duration", "3", "--ramp", "1s",
                "--procs", "1", "--settle", "2", "--seed", "7", "--out", str(out),
            ]  # fmt: skip
            done = subprocess.run(loadtest, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.returncode, json.loads((out / "report.json").read_text()), done.stdout


def test_a_capped_server_fails_the_run_with_the_cause_and_a_lifted_one_passes(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    code, rep, out = run_against(
        redis_server, ["--max-sockets-per-address", "10"], "lt-capped", tmp_path / "capped"
    )
    assert code == 1, out
    assert rep["verdict"] == "fail"
    assert rep["summary"]["viewers_joined"] == 10
    assert rep["summary"]["errors"]["by_code"]["connect:http_429"] == 5
    assert {"viewers", "server caps"} <= set(rep["failed"])
    assert "5 of 15 viewers never joined" in rep["reasons"]
    assert rep["caps"][0]["cap"] == "sockets" and "HTTP 429" in rep["caps"][0]["cause"]
    assert "--max-sockets-per-address 0" in rep["advice"]
    # said at once, while the run goes on, and again in the summary
    warned = out.index("!! the server refuses this load")
    assert "HTTP 429" in out[warned:] and warned < out.index("verdict          FAIL")
    assert "socket cap" in out and "fix            " in out
    assert "plan             viewers joined" in out and "10 of 15" in out

    code, rep, out = run_against(
        redis_server,
        ["--max-sockets-per-address", "0", "--address-chat-rate", "0"],
        "lt-uncapped",
        tmp_path / "uncapped",
    )
    assert code == 0, out
    assert rep["verdict"] == "pass" and rep["failed"] == [] and rep["caps"] == []
    rows = {r["row"]: r for r in rep["plan_rows"]}
    assert rows["viewers"]["done"] == rows["viewers"]["planned"] == 15
    assert rows["chat"]["planned"] > 0 and rows["chat"]["done"] == rows["chat"]["planned"]
    assert rep["summary"]["chat_accepted"] > 0 and "!! the server" not in out
