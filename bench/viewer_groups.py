"""The benchmarks' viewers, connected in three groups (``bench.chat_fanout``,
``bench.peers.fanout``): ``light`` viewers count frames, ``sample`` viewers decode
and measure, ``senders`` chat.

:func:`connect_groups` opens them all, a bounded number of handshakes at a time, and
says how many failed and how long it took (the first answer a client process gives
its parent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from livecart.loadtest.wsclient import WsConn

C = TypeVar("C", bound=WsConn)

LIGHT, SAMPLE, SENDER = "light", "sample", "sender"


@dataclass
class Groups(Generic[C]):
    light: list[C] = field(default_factory=list)
    samples: list[C] = field(default_factory=list)
    senders: list[C] = field(default_factory=list)
    failed: int = 0  # connections that could not be opened
    connect_s: float = 0.0  # how long opening all of them took

    @property
    def everyone(self) -> list[C]:
        return [*self.light, *self.samples, *self.senders]

    def connected(self) -> dict[str, Any]:
        """What the client process tells its parent once everyone is connected."""
        return {
            "connected": len(self.everyone),
            "failed": self.failed,
            "connect_s": self.connect_s,
        }


async def connect_groups(
    open_one: Callable[[int, str], Awaitable[C]],
    *,
    light: int,
    sample: int,
    senders: int,
    in_flight: int,
) -> Groups[C]:
    """Open ``sample`` + ``senders`` + ``light`` viewers with ``open_one(i, kind)``
    (kind LIGHT, SAMPLE or SENDER), at most ``in_flight`` at a time."""
    groups: Groups[C] = Groups()
    lists = {LIGHT: groups.light, SAMPLE: groups.samples, SENDER: groups.senders}
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int, kind: str) -> None:
        async with gate:
            v = await open_one(i, kind)
        lists[kind].append(v)

    jobs = [one(i, SAMPLE) for i in range(sample)]
    jobs += [one(i, SENDER) for i in range(senders)]
    jobs += [one(i, LIGHT) for i in range(light)]
    t0 = time.monotonic()
    results = await asyncio.gather(*jobs, return_exceptions=True)
    groups.failed = sum(1 for r in results if isinstance(r, BaseException))
    groups.connect_s = time.monotonic() - t0
    return groups
