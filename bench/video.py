"""Video fan-out benchmark: one WHIP publisher, N low-latency WebSocket viewers.

    python -m bench.video --viewers 100 --seconds 10

What it runs, all on 127.0.0.1:

- **server** (own process, uvloop): an aiohttp app with ``setup_streamer``, the
  same code a node runs;
- **publisher** (this process): aiortc publishing over WHIP a 720p30 H.264 clip
  encoded once with libx264 and 64 kbit/s Opus encoded once with libopus, both
  replayed in a loop as encoded packets, so the
  server does everything it does for a browser publisher — ICE/DTLS/SRTP
  receive, depayloading, packaging by copy, HLS segments and recording on disk,
  fan-out — and no encoder runs anywhere during the measurement;
- **viewers** (one process): light clients speaking just enough WebSocket to
  count fragments (video and audio) and bytes; every fragment's header carries the wall-clock
  time it reached the packager, so "behind live" is receive time minus that
  (same clock, same machine). It excludes the capture/encode/network path
  before the server and the player's own buffer.

Server CPU is measured with psutil on the server process only: first with the
publisher alone (baseline), then with N viewers; "per viewer" is the
difference divided by N. Viewers and server share the machine's cores, so at
high N the viewer process competes with the server: the figures are an upper
bound on server cost per viewer. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import psutil

from bench import python_m
from livecart.ws_reader import frame_head

TOKEN = "bench-token"
ROOM = "bench"
HOST = "127.0.0.1"


# --------------------------------------------------------------------- server


async def _serve(data_dir: Path) -> None:
    from aiohttp import web

    from livecart.streamer.app import STREAMER, setup_streamer

    app = web.Application()

    async def authorize(room: str, token: str) -> bool:
        return token == TOKEN

    async def on_live(room: str, live: bool) -> None:
        return None

    setup_streamer(app, authorize=authorize, on_live=on_live, data_dir=data_dir, ice_hosts=[HOST])

    async def stats(request: web.Request) -> web.Response:
        service = app[STREAMER]
        channel = service.channels.get(ROOM)
        if channel is None:
            return web.json_response({})
        s = channel.fanout.stats
        show = channel.show
        return web.json_response(
            {
                "viewers": len(channel.fanout.viewers),
                "fragments": s.fragments,
                "writes": s.writes,
                "skipped": s.skipped,
                "dropped": s.dropped,
                "bytes": s.bytes_written,
                "keyframes_in": show.packager.keyframes_in if show else 0,
                "segments": len(show.recorder.entries) if show else 0,
            }
        )

    app.router.add_get("/bench/stats", stats)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, backlog=2048)
    await site.start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def on_stdin() -> None:
        if not stop.done():
            stop.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        await asyncio.wait_for(stop, 3600)  # the parent closes our stdin when done
    finally:
        loop.remove_reader(sys.stdin.fileno())
        await runner.cleanup()


# -------------------------------------------------------------------- viewers


class _Viewer(asyncio.Protocol):
    """Counts WebSocket messages of the video stream; records behind-live delays."""

    def __init__(self, key: str, delays: list[float], record: bool) -> None:
        self.key = key
        self.delays = delays
        self.record = record
        self.buf = bytearray()
        self.upgraded = False
        self.fragments = 0
        self.audio_fragments = 0
        self.bytes = 0
        self.closed = False
        self.ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check
        cast(asyncio.WriteTransport, transport).write(
            f"GET /ws/video/{ROOM} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.bytes += len(data)
        self.buf += data
        if not self.upgraded and not self._upgrade():
            return
        pos = self._frames(time.time())
        if pos:
            del self.buf[:pos]

    def _upgrade(self) -> bool:
        """Consume the handshake's answer once it is whole; True when upgraded."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        if not buf.startswith(b"HTTP/1.1 101"):
            if not self.ready.done():
                self.ready.set_exception(ConnectionError(bytes(buf[:40])))
            return False
        del buf[: end + 4]
        self.upgraded = True
        if not self.ready.done():
            self.ready.set_result(None)
        return True

    def _frames(self, now: float) -> int:
        """Count the whole frames in the buffer; returns how many bytes they took."""
        buf = self.buf
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            head, length = frame_head(buf, pos, n)
            if not head or n - pos < head + length:
                break
            if buf[pos] & 0x0F == 2 and buf[pos + head] == 2:  # binary, media fragment
                self._fragment(pos + head, now)
            pos += head + length
        return pos

    def _fragment(self, at: int, now: float) -> None:
        """One media fragment message starting at ``at``: audio, or video with its delay."""
        buf = self.buf
        if buf[at + 3] == 1:  # audio track
            self.audio_fragments += 1
            return
        self.fragments += 1
        if self.record:
            start = at + 8
            produced = int.from_bytes(buf[start : start + 8], "big")
            self.delays.append(now - produced / 1e6)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during handshake"))


async def _run_viewers(port: int, viewers: int, seconds: float, record_every: int) -> None:
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    protocols: list[_Viewer] = []
    transports: list[Any] = []
    key = base64.b64encode(os.urandom(16)).decode()
    deadline = time.monotonic() + 60
    for batch in range(0, viewers, 50):
        made = []
        for i in range(batch, min(viewers, batch + 50)):
            proto = _Viewer(key, delays, record=i % record_every == 0)
            made.append(loop.create_connection(lambda p=proto: p, HOST, port))  # type: ignore[misc]
            protocols.append(proto)
        for transport, _ in await asyncio.gather(*made):
            transports.append(transport)
        if time.monotonic() > deadline:
            raise TimeoutError("viewers could not connect in 60 s")
    await asyncio.wait_for(asyncio.gather(*(p.ready for p in protocols)), 30)
    await asyncio.sleep(2.0)  # settle: GOP bursts to joiners are over
    print("READY", flush=True)
    frags0 = sum(p.fragments for p in protocols)
    audio0 = sum(p.audio_fragments for p in protocols)
    bytes0 = sum(p.bytes for p in protocols)
    delays.clear()
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    frags = sum(p.fragments for p in protocols) - frags0
    audio = sum(p.audio_fragments for p in protocols) - audio0
    nbytes = sum(p.bytes for p in protocols) - bytes0
    sample = sorted(delays)
    result: dict[str, Any] = {
        "elapsed": elapsed,
        "fragments": frags,
        "audio_fragments": audio,
        "bytes": nbytes,
        "closed": sum(1 for p in protocols if p.closed),
        "samples": len(sample),
        "p50": sample[len(sample) // 2] if sample else None,
        "p99": sample[min(len(sample) - 1, int(len(sample) * 0.99))] if sample else None,
        "max": sample[-1] if sample else None,
    }
    for transport in transports:
        transport.close()
    await asyncio.sleep(0.1)
    print("RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------- orchestrator


async def _read_tagged(stream: asyncio.StreamReader, tag: str, limit: float) -> str:
    async def scan() -> str:
        while True:
            line = await stream.readline()
            if not line:
                raise RuntimeError(f"process ended before {tag}")
            text = line.decode().strip()
            if text.startswith(tag):
                return text[len(tag) :].strip()

    return await asyncio.wait_for(scan(), limit)


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


async def _stats(port: int) -> dict[str, Any]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://{HOST}:{port}/bench/stats") as resp,
    ):
        data: dict[str, Any] = await resp.json()
        return data


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from livecart.streamer.synthetic import (
        OpusPacketTrack,
        PacketTrack,
        encode_clip,
        encode_opus,
        whip_publish,
    )

    clip = encode_clip(
        width=args.width, height=args.height, fps=30, frames=300, gop=60, bitrate=args.bitrate
    )
    clip_bitrate = sum(len(f.data) for f in clip) * 8 / 10
    with tempfile.TemporaryDirectory(prefix="livecart-bench-") as tmp:
        server = await asyncio.create_subprocess_exec(
            *python_m("bench.video"), "--serve", tmp,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        viewers_proc: asyncio.subprocess.Process | None = None
        pc = None
        try:
            assert server.stdout is not None and server.stdin is not None
            port = int(await _read_tagged(server.stdout, "PORT", 30))
            server_ps = psutil.Process(server.pid)
            tracks: list[Any] = [PacketTrack(clip)]
            if not args.no_audio:
                tracks.append(OpusPacketTrack(encode_opus(250)))
            url = f"http://{HOST}:{port}/whip/{ROOM}"
            pc, _ = await whip_publish(url, TOKEN, *tracks)
            deadline = time.monotonic() + 20
            while (await _stats(port)).get("fragments", 0) < 60:
                if time.monotonic() > deadline:
                    raise RuntimeError("the publisher's frames do not reach the packager")
                await asyncio.sleep(0.2)
            base_window = min(5.0, args.seconds)
            c0 = _cpu(server_ps)
            await asyncio.sleep(base_window)
            baseline = (_cpu(server_ps) - c0) / base_window

            viewers_proc = await asyncio.create_subprocess_exec(
                *python_m("bench.video"), "--viewers-process",
                str(port), str(args.viewers), str(args.seconds), str(args.record_every),
                stdout=subprocess.PIPE,
            )  # fmt: skip
            assert viewers_proc.stdout is not None
            await _read_tagged(viewers_proc.stdout, "READY", 120)
            s0 = await _stats(port)
            c0, t0 = _cpu(server_ps), time.monotonic()
            result = json.loads(
                await _read_tagged(viewers_proc.stdout, "RESULT", args.seconds + 60)
            )
            cpu = (_cpu(server_ps) - c0) / (time.monotonic() - t0)
            s1 = await _stats(port)
        finally:
            if pc is not None:
                await pc.close()
            if viewers_proc is not None and viewers_proc.returncode is None:
                viewers_proc.kill()
                await viewers_proc.wait()
            if server.stdin is not None:
                server.stdin.close()
            try:
                await asyncio.wait_for(server.wait(), 10)
            except TimeoutError:
                server.kill()
                await server.wait()
    elapsed = result["elapsed"]
    return {
        "viewers": args.viewers,
        "seconds": round(elapsed, 2),
        "clip": f"{args.width}x{args.height}@30 {clip_bitrate / 1e6:.2f} Mbit/s"
        + ("" if args.no_audio else " + Opus 64 kbit/s"),
        "server_cpu_baseline": round(baseline, 4),
        "server_cpu": round(cpu, 4),
        "cpu_per_viewer_pct": round((cpu - baseline) / args.viewers * 100, 4),
        "fragments_per_s_delivered": round(result["fragments"] / elapsed, 1),
        "fragments_per_s_produced": round((s1["fragments"] - s0["fragments"]) / elapsed, 1),
        "audio_fragments_per_s_delivered": round(result["audio_fragments"] / elapsed, 1),
        "mbit_per_s_delivered": round(result["bytes"] * 8 / elapsed / 1e6, 1),
        "behind_live_p50_ms": round(result["p50"] * 1000, 1) if result["p50"] is not None else None,
        "behind_live_p99_ms": round(result["p99"] * 1000, 1) if result["p99"] is not None else None,
        "delay_samples": result["samples"],
        "viewers_skipped_fragments": s1["skipped"] - s0["skipped"],
        "viewers_dropped": s1["dropped"] - s0["dropped"],
        "viewers_closed": result["closed"],
        "hls_segments": s1["segments"],
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench.video", description=__doc__)
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--bitrate", type=int, default=1_200_000)
    parser.add_argument("--no-audio", action="store_true", help="publish video only")
    parser.add_argument("--record-every", type=int, default=1, help="viewers sampled for delay")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--serve", metavar="DATA_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--viewers-process", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.viewers <= 5000 or not 1 <= args.seconds <= 600:
        parser.error("--viewers must be 1..5000 and --seconds 1..600")

    import uvloop

    if args.serve:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(Path(args.serve)))
        return 0
    if args.viewers_process:
        port, n, secs, every = args.viewers_process
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_run_viewers(int(port), int(n), float(secs), int(every)))
        return 0
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        report = runner.run(_bench(args))
    if args.json:
        print(json.dumps(report))
    else:
        width = max(len(k) for k in report)
        for key, value in report.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
