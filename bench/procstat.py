"""What a server process holds, read from Linux's ``/proc``: resident memory, open file
descriptors by kind, and its TCP connections to one port (Redis); and the kernel's
counters of full listen queues (``listen_counters``).

``read(pid, redis_port)`` does the reading; the parsers below it take the text ``/proc``
gives and are pure, so they are tested without a process. Linux only.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass, field

FD_KINDS = ("socket", "pipe", "anon_inode", "file")


@dataclass(frozen=True, slots=True)
class ProcSample:
    rss: int  # bytes
    fds: dict[str, int] = field(default_factory=dict)  # kind -> count (FD_KINDS)
    redis_conns: int = 0  # TCP connections from this process to the Redis port

    @property
    def total_fds(self) -> int:
        return sum(self.fds.values())


def parse_rss(status: str) -> int:
    """VmRSS of a ``/proc/PID/status`` text, in bytes (0 if absent)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def fd_kind(target: str) -> str:
    """The kind of one ``/proc/PID/fd`` link target: ``socket:[123]`` -> socket,
    ``pipe:[..]`` -> pipe, ``anon_inode:[eventpoll]`` -> anon_inode, a path -> file."""
    for kind in ("socket", "pipe", "anon_inode"):
        if target.startswith(kind + ":"):
            return kind
    return "file"


def socket_inode(target: str) -> int | None:
    """The inode of a ``socket:[123]`` link target, else None."""
    if target.startswith("socket:[") and target.endswith("]"):
        return int(target[8:-1])
    return None


def tcp_peers(table: str) -> dict[int, int]:
    """inode -> remote port for the established connections of a ``/proc/net/tcp`` (or
    ``tcp6``) text."""
    peers: dict[int, int] = {}
    for line in table.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10 or parts[3] != "01":  # 01: ESTABLISHED
            continue
        remote_port = int(parts[2].rsplit(":", 1)[1], 16)
        peers[int(parts[9])] = remote_port
    return peers


LISTEN_COUNTERS = ("ListenOverflows", "ListenDrops", "SyncookiesSent")
"""The kernel's TcpExt counters that say a listening socket's queue was full: a SYN or
the handshake's last ACK was dropped (the client retries after a second) or answered
with a SYN cookie."""


def parse_tcp_ext(netstat: str) -> dict[str, int]:
    """The ``TcpExt`` counters of a ``/proc/net/netstat`` text (a header line of names,
    then a line of values)."""
    lines = [line.split() for line in netstat.splitlines()]
    for names, values in itertools.pairwise(lines):
        if names and names[0] == "TcpExt:" and values and values[0] == "TcpExt:":
            return {n: int(v) for n, v in zip(names[1:], values[1:], strict=False)}
    return {}


def listen_counters() -> dict[str, int]:
    """:data:`LISTEN_COUNTERS` now, for the whole network namespace (not one process)."""
    ext = parse_tcp_ext(_read("/proc/net/netstat"))
    return {name: ext.get(name, 0) for name in LISTEN_COUNTERS}


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def read(pid: int, redis_port: int | None = None) -> ProcSample:
    """A sample of process ``pid`` now (links that vanish while read are skipped)."""
    kinds: Counter[str] = Counter(dict.fromkeys(FD_KINDS, 0))
    inodes: list[int] = []
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        kinds[fd_kind(target)] += 1
        inode = socket_inode(target)
        if inode is not None:
            inodes.append(inode)
    redis_conns = 0
    if redis_port is not None:
        peers = tcp_peers(_read(f"/proc/{pid}/net/tcp"))
        peers.update(tcp_peers(_read(f"/proc/{pid}/net/tcp6")))
        redis_conns = sum(1 for inode in inodes if peers.get(inode) == redis_port)
    return ProcSample(parse_rss(_read(f"/proc/{pid}/status")), dict(kinds), redis_conns)
