"""One ``livecart serve`` per data directory: an exclusive lock the kernel releases.

``DataDirLock(data_dir).acquire(serving)`` takes ``flock(LOCK_EX | LOCK_NB)`` on
``<data_dir>/livecart.lock`` and writes the owner's pid and what it serves into it::

    12345
    http://127.0.0.1:8080

Guarantees:

- At most one process (with the children it forks, which share the open file) holds
  the lock of a directory at a time. A second ``acquire`` on the same directory, from
  any process, raises ``DataDirBusy`` naming the owner read from the file, at once
  (it never waits).
- The kernel drops the lock when the last descriptor of the owner closes: a server
  killed with SIGKILL leaves the file behind but not the lock, and the next ``acquire``
  takes it over and rewrites the file. So whatever a killed owner left in the directory
  (the private Redis' pidfile) may be acted on by whoever holds the lock, and only by
  them.
- The descriptor is not inherited across ``exec`` (a private ``redis-server`` started
  by the owner does not hold the lock).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

LOCK_NAME = "livecart.lock"


@dataclass(frozen=True)
class Owner:
    """Who holds a data directory, as its lock file says (pid None: unreadable)."""

    pid: int | None
    serving: str


class DataDirBusy(RuntimeError):
    """Another process holds the data directory's lock; ``str()`` is one line."""

    def __init__(self, data_dir: Path, owner: Owner) -> None:
        self.data_dir = data_dir
        self.owner = owner
        who = f"pid {owner.pid}" if owner.pid is not None else "another process"
        serving = f" (serving {owner.serving})" if owner.serving else ""
        super().__init__(
            f"data dir {data_dir} is in use by {who}{serving}: stop it or pass another --data-dir"
        )


def read_owner(text: str) -> Owner:
    """The ``Owner`` a lock file's text names (pure; any text is accepted)."""
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    pid = int(first) if first.isdigit() else None
    return Owner(pid, lines[1].strip()[:200] if len(lines) > 1 else "")


class DataDirLock:
    """The lock of one data directory (made, with its parents, when missing)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.path = self.data_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this process holds the lock."""
        return self._fd is not None

    def acquire(self, serving: str) -> None:
        """Take the lock and record this process's pid and ``serving`` (what it serves,
        e.g. its URL); raises ``DataDirBusy`` when another process holds it."""
        if self._fd is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            raise DataDirBusy(self.data_dir, read_owner(text)) from None
        except BaseException:
            os.close(fd)
            raise
        record = f"{os.getpid()}\n{serving}\n".encode()
        os.pwrite(fd, record, 0)  # then cut: a reader never sees an empty file
        os.ftruncate(fd, len(record))
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; a later owner rewrites it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
