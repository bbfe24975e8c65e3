"""Client processes with a pipe each, as the load tester's tools run them
(``livecart loadtest``, ``python -m bench``, ``python -m bench.peers``).

The parent's side: :class:`PipedProcesses` starts each process with one end of a pipe
and keeps the other, and ends them all within a bounded time. The child's side:
:func:`run_on_uvloop` is the body of such a process. :func:`share` splits a count
over the processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

from livecart.loadtest.wsclient import raise_fd_limit

TIMER = 0.01  # the clients' own delay: how late a 10 ms timer fires in each process


def share(n: int, parts: int, k: int) -> int:
    """Part ``k`` of ``n`` split as evenly as possible into ``parts`` (the first ones
    take one more)."""
    return n // parts + (1 if k < n % parts else 0)


def run_on_uvloop(main: Coroutine[Any, Any, None]) -> None:
    """The body of a client process: room for many sockets, uvloop, then ``main``."""
    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(main)


class PipedProcesses:
    """The parent's side of some client processes: each started with one end of a pipe
    (``start``), the other end kept in ``pipes``; ``ctx`` is the multiprocessing context
    (``spawn`` by default)."""

    def __init__(self, ctx: Any = None) -> None:
        self.ctx = ctx or mp.get_context("spawn")  # a multiprocessing context
        self.pipes: list[Connection] = []  # the parent's ends, one per process
        self.procs: list[Any] = []

    def start(self, target: Callable[..., None], *args: Any) -> None:
        """Start ``target(*args, pipe)`` in a new (daemon) process."""
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=target, args=(*args, child), daemon=True)
        proc.start()
        child.close()
        self.pipes.append(parent)
        self.procs.append(proc)

    def send(self, msg: Any) -> None:
        """Send ``msg`` to every process; raises ``OSError`` when one has closed its pipe
        (``tell`` skips those)."""
        for p in self.pipes:
            p.send(msg)

    def tell(self, msg: Any) -> None:
        """Send ``msg`` to the processes still listening (the others have stopped)."""
        for p in self.pipes:
            with contextlib.suppress(OSError):
                p.send(msg)

    def close(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for each process to end, terminate the ones that
        do not, and close the pipes."""
        for proc in self.procs:
            proc.join(wait)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        for p in self.pipes:
            p.close()


async def timer_lateness(out: list[float], after: float = 0.0) -> None:
    """From ``after`` seconds on, how late (ms) a ``TIMER`` sleep wakes, again and again
    until cancelled: this client process's own delay in handling what it reads."""
    await asyncio.sleep(after)
    while True:
        t0 = time.perf_counter()
        await asyncio.sleep(TIMER)
        out.append(max(0.0, (time.perf_counter() - t0 - TIMER) * 1000))
