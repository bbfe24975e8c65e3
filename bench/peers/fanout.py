"""The client process of the peers comparison: N viewers in one room, chat in steps.

The same workload for both servers: ``light`` viewers count frames, ``sample`` viewers
decode and measure the latency of each chat message from its server timestamp, and
``senders`` (viewers too) chat round-robin at the rate the parent asks for, each at
most once a second (livecart's per-viewer limit). Speaks livecart's protocol
(``loadtest.wsclient.Viewer``) or Socket.IO over Engine.IO v4 (``EioViewer``).

Pipe protocol with the parent: the process connects everyone and sends
``{"connected", "failed", "connect_s"}``; then for each ``{"cmd": "step", "rate",
"seconds"}`` it chats for that long and answers with the step's figures; ``{"cmd":
"stop"}`` (or a closed pipe, or a silent parent for 10 minutes) ends it. ``{"cmd":
"drain", "quiet", "timeout"}`` waits until nothing has arrived for ``quiet`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bench.viewer_groups import SAMPLE, SENDER, connect_groups
from livecart.loadtest.client_pool import run_on_uvloop
from livecart.loadtest.stats import Histogram
from livecart.loadtest.wsclient import (
    JSON,
    MSGPACK,
    EioViewer,
    Viewer,
    ViewerStats,
    WsConn,
    connect,
    open_viewer,
)

LIVECART, SOCKETIO = "livecart", "python-socketio"


@dataclass(frozen=True)
class FanoutPlan:
    server: str  # LIVECART or SOCKETIO
    host: str
    port: int
    room: str
    light: int
    sample: int
    senders: int
    index: int = 0


def fanout_main(plan: FanoutPlan, conn: Any) -> None:
    run_on_uvloop(_main(plan, conn))


async def _open_eio(plan: FanoutPlan, name: str, sample: bool, stats: ViewerStats) -> EioViewer:
    query = urlencode({"EIO": "4", "transport": "websocket", "room": plan.room, "name": name})
    return await connect(
        plan.host,
        plan.port,
        lambda: EioViewer(f"/socket.io/?{query}", sample, stats),
        30,
        lambda v: v.joined,
    )


async def _main(plan: FanoutPlan, conn: Any) -> None:
    stats = ViewerStats()
    sampled = ViewerStats()

    async def one(i: int, kind: str) -> WsConn:
        sample = kind == SAMPLE
        name = f"{kind}{plan.index}-{i}"
        if plan.server == SOCKETIO:
            return await _open_eio(plan, name, sample, sampled if sample else stats)
        return await open_viewer(
            plan.host,
            plan.port,
            f"/ws/{plan.room}?name={name}",
            sample=sample,
            fmt=JSON if kind == SENDER else MSGPACK,
            stats=sampled if sample else stats,
        )

    groups = await connect_groups(
        one, light=plan.light, sample=plan.sample, senders=plan.senders, in_flight=64
    )
    everyone, samples, senders = groups.everyone, groups.samples, groups.senders
    conn.send(groups.connected())
    loop = asyncio.get_running_loop()
    try:
        while True:
            ready = await loop.run_in_executor(None, conn.poll, 600)
            if not ready:
                return
            msg = conn.recv()
            if msg.get("cmd") == "step":
                conn.send(await _step(plan, msg, everyone, samples, senders, sampled))
            elif msg.get("cmd") == "drain":
                conn.send(await _drain(everyone, float(msg["quiet"]), float(msg["timeout"])))
            else:
                return
    except (EOFError, OSError):
        return
    finally:
        for v in everyone:
            v.close()
        await asyncio.sleep(0.2)


async def _drain(everyone: list[WsConn], quiet: float, timeout: float) -> dict[str, Any]:
    """Wait until nothing has arrived for ``quiet`` seconds (an overloaded server may
    still be sending the previous step's messages), at most ``timeout`` seconds."""
    start = time.monotonic()
    last = -1
    still_since = start
    for _ in range(int(timeout / 0.1) + 1):
        frames = sum(v.reader.frames for v in everyone)
        now = time.monotonic()
        if frames != last:
            last, still_since = frames, now
        elif now - still_since >= quiet:
            return {"drained": True, "waited": round(now - start - quiet, 2)}
        await asyncio.sleep(0.1)
    return {"drained": False, "waited": round(time.monotonic() - start, 2)}


def _set_measuring(samples: list[WsConn], on: bool) -> None:
    for v in samples:
        if isinstance(v, (Viewer, EioViewer)):
            v.measuring = on


async def _step(
    plan: FanoutPlan,
    msg: dict[str, Any],
    everyone: list[WsConn],
    samples: list[WsConn],
    senders: list[WsConn],
    sampled: ViewerStats,
) -> dict[str, Any]:
    rate, seconds = float(msg["rate"]), float(msg["seconds"])
    frames0 = sum(v.reader.frames - v.reader.control for v in everyone)
    bytes0 = sum(v.reader.bytes for v in everyone)
    closed0 = sum(1 for v in everyone if v.lost)
    sampled.latencies.clear()
    sampled.chat = 0
    _set_measuring(samples, True)
    cpu0 = time.process_time()
    start = time.monotonic()
    sent = 0
    if senders and rate > 0:
        gap = 1.0 / rate
        next_at = start
        k = 0
        while time.monotonic() - start < seconds:
            now = time.monotonic()
            if now < next_at:
                await asyncio.sleep(next_at - now)
            v = senders[k % len(senders)]
            text = f"msg {k} from the fan-out benchmark"
            if isinstance(v, Viewer):
                v.send({"id": k, "cmd": "chat", "text": text})
            elif isinstance(v, EioViewer):
                v.emit("chat", {"text": text})
            sent += 1
            k += 1
            next_at += gap
    else:
        await asyncio.sleep(seconds)
    sending = time.monotonic() - start
    cpu_sending = time.process_time() - cpu0
    # Messages sent near the end are still on their way: keep measuring for a moment.
    for _ in range(60):  # at most 3 s
        if sampled.chat >= sent * len(samples):
            break
        await asyncio.sleep(0.05)
    _set_measuring(samples, False)
    elapsed = time.monotonic() - start
    hist = Histogram()
    hist.add_many(sampled.latencies)
    sampled.latencies.clear()
    return {
        "sent": sent,
        "sending_s": sending,
        "elapsed": elapsed,
        "samples": len(samples),
        "sample_chat": sampled.chat,
        "lat": hist.to_dict(),
        "frames": sum(v.reader.frames - v.reader.control for v in everyone) - frames0,
        "bytes": sum(v.reader.bytes for v in everyone) - bytes0,
        "closed": sum(1 for v in everyone if v.lost) - closed0,
        "cpu": time.process_time() - cpu0,
        "cpu_sending": cpu_sending,
    }
