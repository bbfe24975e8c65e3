"""The listening sockets of ``livecart serve``: its port is its own, or it does not start.

``listening_sockets(host, port, n)`` binds before anything else starts, and returns:

- for ``n == 1``, one socket bound without ``SO_REUSEPORT``: the kernel refuses any other
  listener on the port while it is open, and the bind fails if one is there already;
- for ``n > 1`` (``--workers N``), ``n`` sockets with ``SO_REUSEPORT``, one per worker
  (the kernel spreads new connections over them by a hash of each connection's
  addresses, so every worker gets its share even when the machine is idle). First the
  port is probed with a bind without ``SO_REUSEPORT``, which fails while anyone listens
  there, so the group never joins a foreign process's ``SO_REUSEPORT`` group; and a
  later process that binds without ``SO_REUSEPORT`` (any other ``serve``, which probes
  first) is refused by the kernel.

A port in use raises ``PortBusy``, whose one-line message names the process listening
there when it can be found (``port_owner``: Linux ``/proc``, processes of the same user
or any as root); other bind errors (a bad host, a privileged port) propagate as
``OSError``. ``SO_REUSEADDR`` is set on every socket, so a port whose old connections
linger in TIME_WAIT can be bound again at once.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

BACKLOG = 4096
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


class PortBusy(OSError):
    """Another process listens on the port; ``str()`` is one line naming it."""

    def __init__(self, host: str, port: int, owner: int | None) -> None:
        self.host = host
        self.port = port
        self.owner = owner
        who = f"pid {owner}{_command(owner)}" if owner is not None else "another process"
        super().__init__(
            errno.EADDRINUSE,
            f"port {port} on {host} is in use by {who}: stop it or pass another --port",
        )

    def __str__(self) -> str:
        return str(self.strerror)


def _command(pid: int) -> str:
    """`` (the command line)`` of ``pid`` without its interpreter's path, cut short;
    empty when unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    args = raw.decode("utf-8", "replace").split("\0")
    if args and Path(args[0]).name.startswith("python"):
        args = args[1:]
    if args:
        args[0] = Path(args[0]).name
    text = " ".join(a for a in args if a)
    return f" ({text[:60]}{'...' if len(text) > 60 else ''})" if text else ""


def _family(host: str) -> socket.AddressFamily:
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return infos[0][0]


def _bound(host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortBusy(host, port, port_owner(port)) from None
        raise
    return sock


def listening_sockets(host: str, port: int, n: int) -> list[socket.socket]:
    """``n`` listening sockets on ``host:port``, inheritable (see the module docstring);
    raises ``PortBusy`` when another process listens there."""
    if n <= 1:
        sock = _bound(host, port, reuse_port=False)
        sock.set_inheritable(True)
        return [sock]
    _bound(host, port, reuse_port=False).close()  # the probe: is anyone there?
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = _bound(host, port, reuse_port=True)
            socks.append(sock)
            sock.set_inheritable(True)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def listening_inodes(port: int, tables: dict[str, str]) -> set[str]:
    """The socket inodes listening on ``port`` in ``/proc/net/tcp``-format ``tables``
    (name -> text). Pure."""
    inodes: set[str] = set()
    for text in tables.values():
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            _, _, hex_port = fields[1].rpartition(":")
            try:
                if int(hex_port, 16) == port:
                    inodes.add(fields[9])
            except ValueError:
                continue
    return inodes


def port_owner(port: int) -> int | None:
    """The pid of a process listening on TCP ``port``, or None when none can be seen
    (another user's process, not Linux). A forked worker is named by its supervisor."""
    tables: dict[str, str] = {}
    for name in ("tcp", "tcp6"):
        try:
            tables[name] = Path(f"/proc/net/{name}").read_text()
        except OSError:
            continue
    targets = {f"socket:[{inode}]" for inode in listening_inodes(port, tables)}
    if not targets:
        return None
    me = os.getpid()
    for entry in sorted(Path("/proc").iterdir(), key=lambda p: (len(p.name), p.name)):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    return _supervisor(int(entry.name))
            except OSError:
                continue
    return None


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def _supervisor(pid: int) -> int:
    """``pid``, or the process that forked it with the same command line (the worker of
    ``serve --workers N`` holds the socket; its supervisor is the one to name)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        parent = _parent(pid)
        if parent and parent > 1 and Path(f"/proc/{parent}/cmdline").read_bytes() == cmdline:
            return parent
    except OSError:
        pass
    return pid
