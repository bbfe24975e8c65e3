"""A local Redis Cluster of child processes, for the tests and the layouts, with faults to inject.

Not the client: redis-py's ``RedisCluster`` talks to a cluster (``livecart.redis_client``);
``LocalRedisCluster`` runs one on 127.0.0.1 out of :class:`livecart.redis_process.RedisProcess`
children and breaks it on purpose (``kill``, ``pause``, ``cut_replication``, ``restart``)
for the failover and resharding tests. ``loadtest.layout`` (``make layout``) starts one for
its Redis Cluster mode; ``python -m livecart.local_cluster DIR`` runs one from a shell.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from livecart.redis_process import (
    RedisProcess,
    RedisStartError,
    default_redis_server,
    free_port,
    redis_server_version,
)


class LocalRedisCluster:
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
        """Every node's port, masters and replicas, in the order they were made."""
        return [n.port for n in self.nodes]

    @property
    def pids(self) -> dict[int, int | None]:
        """Each node's port -> its process id, or None while it is not running."""
        return {n.port: n.pid for n in self.nodes}

    @property
    def url(self) -> str:
        """A URL naming one live master (any node would do for a cluster client)."""
        for port in self.master_ports():
            return f"redis://127.0.0.1:{port}"
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def node(self, port: int) -> RedisProcess:
        """The node listening on ``port`` (StopIteration for a port of no node)."""
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
        """Stop every node (each keeps its data and ``nodes.conf`` for a later start)."""
        for proc in self.nodes:
            proc.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m livecart.local_cluster DIR``: run a local Redis Cluster until
    SIGTERM/SIGINT (for ``make`` targets and layouts); prints one JSON line with its URL,
    ports and pids once it is healthy."""
    cl = argparse.ArgumentParser(
        prog="python -m livecart.local_cluster", description="a local Redis Cluster on 127.0.0.1"
    )
    cl.add_argument("dir", type=Path, help="a new directory (one data folder per node)")
    cl.add_argument("--masters", type=int, default=3)
    cl.add_argument("--replicas", type=int, default=1)
    cl.add_argument("--node-timeout-ms", type=int, default=2000)
    args = cl.parse_args(argv)
    cluster = LocalRedisCluster(
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
