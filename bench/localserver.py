"""A private Redis and one ``livecart serve`` process on 127.0.0.1, for the benchmarks.

``local_server()`` starts both on free ports (Redis data in a temporary directory),
waits until the node answers ``/healthz`` and stops both on exit, whatever happens.
``spawn_server`` starts any server command the same way (the peers comparison uses it
for python-socketio).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from livecart.loadtest.wsclient import raise_fd_limit
from livecart.redis_process import RedisProcess, free_port


@dataclass
class LocalServer:
    base: str
    port: int
    admin: str
    redis_url: str
    proc: subprocess.Popen[bytes]
    redis_pid: int | None = None  # the private Redis (None with a given redis_url)

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.proc.pid)

    def processes(self) -> list[psutil.Process]:
        """The server's processes: ``livecart serve`` and, with ``--workers N``, its
        workers (forked children)."""
        ps = self.ps
        return [ps, *ps.children(recursive=True)]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU seconds of ``procs`` so far (one that has gone counts 0)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def rss_bytes(procs: list[psutil.Process]) -> int:
    """Resident memory of ``procs`` added up (one that has gone counts 0)."""
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def http_json(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    """A JSON request to this machine (127.0.0.1 URLs only)."""
    assert url.startswith("http://127.0.0.1:"), url
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@contextlib.contextmanager
def private_redis(appendfsync: str = "everysec") -> Iterator[RedisProcess]:
    with tempfile.TemporaryDirectory(prefix="livecart-bench-redis-") as tmp:
        redis = RedisProcess(Path(tmp) / "redis", appendfsync=appendfsync)
        redis.start()
        try:
            yield redis
        finally:
            redis.stop()


@contextlib.contextmanager
def spawn_server(
    argv: list[str], health_url: str, log: Path, timeout: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` until the block ends; wait for ``health_url`` to answer first."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(health_url, timeout=2) as resp:
                        resp.read()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(
                            f"{argv[2] if len(argv) > 2 else argv[0]} did not start; see {log}"
                        ) from None
                    time.sleep(0.1)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def serve_argv(
    port: int, redis_url: str, admin: str, data_dir: str | Path, workers: int = 1
) -> list[str]:
    """The command line of a ``livecart serve`` node on 127.0.0.1:``port`` (no demo room)."""
    return [
        sys.executable, "-m", "livecart", "serve", "--port", str(port),
        "--redis-url", redis_url, "--admin-token", admin, "--no-demo",
        "--data-dir", str(data_dir), "--workers", str(workers),
        # the simulated crowd all comes from 127.0.0.1: no per-address caps
        "--max-sockets-per-address", "0", "--address-chat-rate", "0",
        "--holds-per-address", "0",
    ]  # fmt: skip


@contextlib.contextmanager
def local_server(
    appendfsync: str = "everysec", redis_url: str | None = None, workers: int = 1
) -> Iterator[LocalServer]:
    """A livecart node on a free port with its own Redis (or ``redis_url``), run as
        ``workers`` processes sharing the port (``livecart serve --workers``). The limit on
    open files is lifted to the hard one first, so the server (which inherits it) can hold
    as many sockets as the machine allows."""
    admin = "adm_bench_" + secrets.token_hex(8)
    raise_fd_limit()  # the server inherits the lifted limit on open files
    redis_pid = None
    with contextlib.ExitStack() as stack:
        if redis_url is None:
            redis = stack.enter_context(private_redis(appendfsync))
            redis_url, redis_pid = redis.url, redis.pid
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="livecart-bench-")))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        argv = serve_argv(port, redis_url, admin, tmp, workers)
        proc = stack.enter_context(spawn_server(argv, f"{base}/healthz", tmp / "server.log"))
        yield LocalServer(base, port, admin, redis_url, proc, redis_pid)
