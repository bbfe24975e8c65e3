"""One ``livecart serve`` per data dir and per port, as an operator meets it: real
``livecart serve`` subprocesses on free ports with their own private Redis.

A second ``serve`` on a data dir or a port that another one holds exits at once with
one line naming that process, and the first keeps serving (its private Redis
untouched); a server killed with SIGKILL leaves its lock and its Redis behind, and the
next ``serve`` on that data dir takes both over; ``--workers 2`` still shares its port
between its own workers. The start banner is the last thing on the screen.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from livecart.redis_process import free_port, process_alive
from livecart.web.data_dir_lock import LOCK_NAME

START = 30.0  # seconds a serve may take to come up on a busy machine
REFUSAL = 8.0  # a refused serve must be gone well within this


@dataclass
class Serve:
    """A ``livecart serve`` subprocess; ``out`` holds its stdout (and its stderr when
    started with ``merged``: what the operator's terminal shows), ``err`` its stderr."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    out: Path
    err: Path

    def lines(self) -> list[str]:
        return self.out.read_text(errors="replace").splitlines()

    def errors(self) -> list[str]:
        return self.err.read_text(errors="replace").splitlines()


def _env() -> dict[str, str]:
    """This environment without any livecart or Redis setting: the defaults apply."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("LIVECART_", "REDIS_URL"))}


def start(
    tmp: Path, name: str, port: int, data_dir: Path, *args: str, merged: bool = False
) -> Serve:
    out, err = tmp / f"{name}.out", tmp / f"{name}.err"
    argv = [sys.executable, "-m", "livecart", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--data-dir", str(data_dir), *args]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            argv,
            stdout=stdout,
            stderr=subprocess.STDOUT if merged else stderr,
            stdin=subprocess.DEVNULL,
            env=_env(),
            start_new_session=True,
        )
    return Serve(proc, port, data_dir, out, err)


def healthz(port: int) -> dict[str, Any] | None:
    """``/healthz``'s JSON (also a 503's), or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as resp:
            body: dict[str, Any] = json.loads(resp.read())
            return body
    except urllib.error.HTTPError as exc:
        failed: dict[str, Any] = json.loads(exc.read())
        return failed
    except OSError:
        return None


def wait_up(serve: Serve) -> None:
    """Until ``serve`` answers ``/healthz`` with ok:true and has printed its banner."""
    deadline = time.monotonic() + START
    while True:
        code = serve.proc.poll()
        assert code is None, f"serve exited with {code}:\n{serve.out.read_text()}"
        body = healthz(serve.port)
        if body is not None and body["ok"] and any("data dir:" in x for x in serve.lines()):
            return
        assert time.monotonic() < deadline, f"serve did not come up:\n{serve.out.read_text()}"
        time.sleep(0.1)


def stop(serve: Serve) -> None:
    """SIGTERM (it stops its private Redis) and wait; SIGKILL if it hangs."""
    if serve.proc.poll() is None:
        serve.proc.send_signal(signal.SIGTERM)
        try:
            serve.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(serve.proc.pid, signal.SIGKILL)
            serve.proc.wait()


def refused_while_first_serves(first: Serve, second: Serve) -> str:
    """Wait for ``second`` to exit, checking all along that ``first`` answers ok:true;
    return the one line ``second`` wrote on stderr."""
    began = time.monotonic()
    while second.proc.poll() is None:
        assert time.monotonic() - began < REFUSAL, "the second serve did not exit"
        body = healthz(first.port)
        assert body is not None and body["ok"] is True, body
        time.sleep(0.05)
    assert second.proc.returncode == 1
    assert second.lines() == [], "a refused serve prints no banner"
    errors = second.errors()
    assert len(errors) == 1, errors
    return errors[0]


def redis_pid(data_dir: Path) -> int:
    return int((data_dir / "redis" / "redis.pid").read_text().strip())


def still_fine(first: Serve, pid: int) -> None:
    """``first`` answers ok:true for a while and its private Redis still runs."""
    for _ in range(10):
        body = healthz(first.port)
        assert body is not None and body["ok"] is True, body
        time.sleep(0.05)
    assert process_alive(pid) and redis_pid(first.data_dir) == pid


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One server, its stderr merged into its stdout as on a terminal, no access log
    (so nothing is printed after its start unless something is wrong)."""
    tmp = tmp_path_factory.mktemp("first")
    serve = start(tmp, "first", free_port(), tmp / "data", "--no-access-log", merged=True)
    try:
        wait_up(serve)
        yield serve
    finally:
        stop(serve)


def test_banner_is_the_last_thing_on_screen(first: Serve) -> None:
    lines = [line for line in first.lines() if line.strip()]
    assert any("private Redis at" in line for line in lines)  # a start-up log line...
    banner = lines[-5:]  # ...before the banner, which ends the start
    assert banner[0] == f"livecart serving on http://127.0.0.1:{first.port}"
    assert banner[1].split() == ["admin", "token:", banner[1].split()[-1]]
    assert banner[2].endswith(f"127.0.0.1:{first.port}/live/demo")
    assert f"127.0.0.1:{first.port}/studio/demo#token=host_" in banner[3]
    assert banner[4].split(":", 1)[1].split()[0] == str(first.data_dir.resolve())


def test_second_serve_on_the_same_data_dir_exits_at_once(first: Serve, tmp_path: Path) -> None:
    pid = redis_pid(first.data_dir)
    began = time.monotonic()
    second = start(tmp_path, "second", free_port(), first.data_dir)
    line = refused_while_first_serves(first, second)
    assert time.monotonic() - began < REFUSAL
    assert f"data dir {first.data_dir.resolve()} is in use by pid {first.proc.pid}" in line
    assert f"http://127.0.0.1:{first.port}" in line
    assert healthz(second.port) is None  # it never listened
    still_fine(first, pid)
    owner = (first.data_dir / LOCK_NAME).read_text().split()
    assert owner == [str(first.proc.pid), f"http://127.0.0.1:{first.port}"]


def test_second_serve_on_a_busy_port_exits_at_once(first: Serve, tmp_path: Path) -> None:
    pid = redis_pid(first.data_dir)
    for workers in ("1", "2"):  # neither one nor a group of workers joins the port
        data = tmp_path / f"d{workers}"
        second = start(tmp_path, f"port-{workers}", first.port, data, "--workers", workers)
        line = refused_while_first_serves(first, second)
        assert f"port {first.port} on 127.0.0.1 is in use by pid {first.proc.pid}" in line
        assert not (data / "redis").exists()  # no Redis was started
        still_fine(first, pid)


def test_a_killed_server_is_taken_over(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    killed = start(tmp_path, "killed", port, data, "--no-demo")
    wait_up(killed)
    admin = next(x.split()[-1] for x in killed.lines() if "admin token:" in x)
    stale = redis_pid(data)
    killed.proc.send_signal(signal.SIGKILL)  # no clean-up at all
    killed.proc.wait()
    assert process_alive(stale)  # its Redis outlives it, its lock file stays
    assert (data / LOCK_NAME).read_text().split()[0] == str(killed.proc.pid)
    after = start(tmp_path, "after", port, data, "--no-demo")
    try:
        wait_up(after)
        assert not process_alive(stale)  # stopped through its pidfile, then replaced
        fresh = redis_pid(data)
        assert fresh != stale and process_alive(fresh)
        assert (data / LOCK_NAME).read_text().split()[0] == str(after.proc.pid)
        # the same data: the admin token kept in Redis survived through the AOF
        assert any(x.split() == ["admin", "token:", admin] for x in after.lines())
    finally:
        stop(after)
    assert not process_alive(fresh)  # a clean stop takes its Redis along


def test_two_workers_share_their_port(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    serve = start(tmp_path, "workers", port, data, "--workers", "2", "--no-access-log", merged=True)
    try:
        wait_up(serve)
        banner = [line for line in serve.lines() if line.strip()][-5:]
        assert banner[0] == f"livecart serving on http://127.0.0.1:{port}"
        assert str(data.resolve()) in banner[-1]
        seen: set[int] = set()
        deadline = time.monotonic() + 10
        while seen != {0, 1}:  # a new connection each time: the kernel spreads them
            assert time.monotonic() < deadline, f"only workers {seen} answered"
            body = healthz(port)
            assert body is not None and body["ok"] is True
            seen.add(body["worker"])
    finally:
        stop(serve)
    assert serve.proc.returncode == 0
