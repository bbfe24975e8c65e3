"""The client processes of one ``livecart loadtest`` run, seen from the parent.

One process per core runs ``loadtest.shoppers.worker_main`` with its
:class:`~loadtest.worker_plan.WorkerPlan` and a pipe. Over the pipe each says
``ready``, is sent ``go`` (or ``stop`` on Ctrl-C), and sends back a tick every second
and a final summary (``loadtest.worker_report``), which :meth:`ClientProcesses.collect`
adds up in an :class:`~loadtest.aggregate.Aggregate`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from livecart.loadtest.aggregate import Aggregate
from livecart.loadtest.client_pool import PipedProcesses
from livecart.loadtest.shoppers import worker_main
from livecart.loadtest.show import SetupError, cpu_of
from livecart.loadtest.worker_plan import WorkerPlan


def _readable(pipes: list[Connection], timeout: float) -> list[Connection]:
    ready = wait(pipes, timeout=timeout)
    return [p for p in pipes if p in ready]


class ClientProcesses(PipedProcesses):
    """The client processes of one run: started with their plans, waited for, told to stop,
    and their ticks collected into an ``Aggregate``."""

    def start_all(self, plans: list[WorkerPlan]) -> None:
        """Start one client process per plan (``shoppers.worker_main``); each says ``ready``
        once set up (``wait_ready``)."""
        for plan in plans:
            self.start(worker_main, plan)

    def wait_ready(self, seconds: float) -> None:
        """Wait until every process has said ``ready``; SetupError after ``seconds``."""
        ready = 0
        deadline = time.monotonic() + seconds
        while ready < len(self.pipes) and time.monotonic() < deadline:
            for p in _readable(self.pipes, 1.0):
                try:
                    msg = p.recv()
                except (EOFError, OSError):
                    raise SetupError("a client process failed to start") from None
                if msg.get("kind") == "ready":
                    ready += 1
        if ready < len(self.pipes):
            raise SetupError("the client processes did not start")

    def stop(self) -> None:
        """Tell every process to stop now."""
        self.tell({"kind": "stop"})

    def collect(
        self,
        agg: Aggregate,
        until: float,
        server: list[Any],
        on_second: Callable[[int], None],
    ) -> tuple[list[dict[str, Any]], bool]:
        """Add up the ticks until every process has sent its final summary, or
        ``time.monotonic()`` reaches ``until``; call ``on_second(sec)`` for each second
        that every process has reported, in order. The finals, and whether all came.
        ``server``'s CPU time is sampled at each new second (when it is on this host)."""
        finals: list[dict[str, Any]] = []
        seconds = 0
        running = list(self.pipes)
        while running and time.monotonic() < until:
            for p in _readable(running, 0.5):
                try:
                    msg = p.recv()
                except (EOFError, OSError):
                    running.remove(p)
                    continue
                if msg["kind"] == "tick":
                    sec = agg.add(msg)
                    if sec not in agg.server_cpu and server:
                        agg.server_cpu[sec] = cpu_of(server)
                elif msg["kind"] == "final":
                    finals.append(msg)
                    running.remove(p)
            while agg.complete(seconds + 1):
                seconds += 1
                on_second(seconds)
        return finals, not running
