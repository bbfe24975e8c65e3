"""Replay benchmark: a 3-hour show, its page start and a 5-minute clip near its end.

``python -m bench.replay`` starts a private Redis and one ``livecart
serve`` on 127.0.0.1, then synthesises a three-hour show cheaply:

- the recording index: 5,400 two-second segments in ``segments.jsonl`` with their
  server times; the media files exist only where the benchmark reads them (the first
  segments, and the last 12 minutes for the clip), each a copy of one real segment
  (synthetic H.264, 320x180) with its decode times moved to its place in the show;
- the event log: a chat message every 20 ms for three hours (540,000, the issue's
  50 a second), a pin every 5 minutes (45 chapters) and, the sampled worst case, one
  product's stock label changing every second (10,800 ``stock`` records), written
  straight into the show's two streams with the stream ids a live show would have given them.

It prints the size of the log per hour of show (Redis ``MEMORY USAGE``), the replay
page start (what the page fetches before the first frame and the chapters: the show,
the first window of events, the init segment and the first segment) and the time to
cut a clip of a 5-minute chapter near the end (the first, uncached request). Goal:
under a second each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import struct
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.localserver import http_json, private_redis, serve_argv, spawn_server
from livecart.keyspace import show_log_key, show_meta_key, show_state_key
from livecart.redis_process import free_port
from livecart.streamer.channel import Channel
from livecart.streamer.recording import INDEX_FILE, SEGMENTS_FILE, read_index
from livecart.streamer.synthetic import encode_clip

ROOM = "bench-replay"
SHOW = "20260101T200000Z-bench0"
HOURS = 3.0
SEGMENT = 2.0
CHAT_EVERY_MS = 20
PIN_EVERY = 300.0
STOCK_EVERY_MS = 1_000
"""One product's stock label changes every second of the show (the sampled worst case)."""
T0 = 1_767_297_600.0  # 2026-01-01 20:00 UTC


class _Clock:
    now = T0

    def __call__(self) -> float:
        return self.now


async def _one_segment(tmp: Path) -> tuple[bytes, bytes, dict[str, Any]]:
    """A real recorded segment (2 s, a keyframe a second) and its init segment."""
    clock = _Clock()
    channel = Channel("r", tmp, clock=clock)
    channel.start_show("s")
    for i, frame in enumerate(encode_clip(width=320, height=180, frames=90, gop=30)):
        clock.now = T0 + i / 30
        channel.on_video_frame(frame.data, i * 3000)
    assert channel.show is not None
    recorder = channel.show.recorder
    channel.end_show()
    await recorder.wait_closed()
    index = read_index(recorder.dir / INDEX_FILE)
    assert index is not None
    seg = index["segments"][0]
    return (recorder.dir / seg["init"]).read_bytes(), (recorder.dir / seg["uri"]).read_bytes(), seg


def _retimed(segment: bytes, offset: int) -> bytes:
    """``segment`` with every ``tfdt`` decode time moved by ``offset`` (90 kHz units)."""
    out = bytearray(segment)
    pos = 0
    while pos + 8 <= len(out):
        size, kind = struct.unpack_from(">I4s", out, pos)
        if kind == b"moof":
            inner = pos + 8
            while inner < pos + size:
                isize, ikind = struct.unpack_from(">I4s", out, inner)
                if ikind == b"traf":
                    t = inner + 8
                    while t < inner + isize:
                        tsize, tkind = struct.unpack_from(">I4s", out, t)
                        if tkind == b"tfdt":
                            (value,) = struct.unpack_from(">Q", out, t + 12)
                            struct.pack_into(">Q", out, t + 12, value + offset)
                        t += tsize
                inner += isize
        pos += size
    return bytes(out)


def _write_show(folder: Path, init: bytes, segment: bytes, template: dict[str, Any]) -> int:
    count = int(HOURS * 3600 / SEGMENT)
    folder.mkdir(parents=True)
    (folder / "init-1.mp4").write_bytes(init)
    real = set(range(3)) | set(range(count - 360, count))  # the first 6 s, the last 12 min
    lines = []
    for i in range(count):
        uri = f"seg-{i:06d}.m4s"
        if i in real:
            (folder / uri).write_bytes(_retimed(segment, round(i * SEGMENT * 90_000)))
        record = {**template, "index": i, "uri": uri, "start": i * SEGMENT,
                  "duration": SEGMENT, "wallclock": T0 + (i + 1) * SEGMENT,
                  "program_time": T0 + i * SEGMENT, "audio_uri": None, "aac_uri": None}  # fmt: skip
        lines.append(json.dumps(record, separators=(",", ":")))
    (folder / SEGMENTS_FILE).write_text("\n".join(lines) + "\n")
    header = {"version": 2, "room": ROOM, "show": SHOW, "started_at": T0,
              "ended_at": T0 + HOURS * 3600, "codec": "avc1.42c00d",
              "inits": {"1": {"uri": "init-1.mp4", "codec": "avc1.42c00d", "width": 320,
                              "height": 180}},
              "audio": None, "aac": None, "segments_file": SEGMENTS_FILE}  # fmt: skip
    (folder / INDEX_FILE).write_text(json.dumps(header))
    return count


async def _write_log(redis_url: str, products: list[str]) -> tuple[int, int]:
    """The show's log as a live show would have left it; returns (entries, bytes)."""
    redis = aioredis.from_url(redis_url)
    t0_ms = int(T0 * 1000)
    end_ms = t0_ms + int(HOURS * 3600 * 1000)
    state = [{"type": "snapshot", "ts": t0_ms, "pinned": None, "lineup": products,
              "products": {p: {"id": p, "name": p, "price": 1000, "currency": "CNY"}
                           for p in products},
              "sales": {products[0]: {"product_id": products[0], "state": "open", "price": 900,
                                      "currency": "CNY", "units_left": 1_000_000}}}]  # fmt: skip
    seq = 0
    pins_ms = [t0_ms + int(k * PIN_EVERY * 1000) for k in range(1, int(HOURS * 3600 / PIN_EVERY))]
    user = {"vid": "v_bench", "name": "Viewer", "role": "viewer"}
    entries = 0
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xadd(show_state_key(ROOM, SHOW), {"e": json.dumps(state[0])}, id=f"{t0_ms}-0")
        pin_i = 0
        for ts in range(t0_ms, end_ms, CHAT_EVERY_MS):
            while pin_i < len(pins_ms) and pins_ms[pin_i] <= ts:
                seq += 1
                pin = {"seq": seq, "ts": pins_ms[pin_i], "type": "pin",
                       "product_id": products[pin_i % len(products)]}  # fmt: skip
                pipe.xadd(show_state_key(ROOM, SHOW), {"e": json.dumps(pin)}, id=f"{ts}-1")
                pin_i += 1
            if (ts - t0_ms) % STOCK_EVERY_MS == 0:
                left = 1_000_000 - (ts - t0_ms) // STOCK_EVERY_MS
                stock = {"seq": seq, "type": "stock", "ts": ts, "stock": {products[0]: left}}
                pipe.xadd(show_state_key(ROOM, SHOW), {"e": json.dumps(stock)}, id=f"{ts}-2")
            seq += 1
            text = f"message {seq} from the bench"
            chat = {"seq": seq, "ts": ts, "type": "chat", "user": user, "text": text}
            pipe.xadd(show_log_key(ROOM, SHOW), {"e": json.dumps(chat)}, id=f"{ts}-0")
            entries += 1
            if entries % 20_000 == 0:
                await pipe.execute()
        await pipe.execute()
    pipe2 = redis.pipeline(transaction=False)
    pipe2.memory_usage(show_log_key(ROOM, SHOW), samples=0)
    pipe2.memory_usage(show_state_key(ROOM, SHOW), samples=0)
    pipe2.hset(show_meta_key(ROOM, SHOW), "started", t0_ms)
    chat_bytes, state_bytes, _ = await pipe2.execute()
    await redis.aclose()
    return entries, int(chat_bytes or 0) + int(state_bytes or 0)


def _get(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = resp.read()
    return time.perf_counter() - started, body


def run(rounds: int) -> dict[str, Any]:
    admin = "adm_bench_" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="livecart-replaybench-") as tmp_name:
        tmp = Path(tmp_name)
        init, segment, template = asyncio.run(_one_segment(tmp / "probe"))
        count = _write_show(tmp / "data" / "media" / ROOM / SHOW, init, segment, template)
        with private_redis() as redis:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            argv = serve_argv(port, redis.url, admin, tmp / "data")
            with spawn_server(argv, f"{base}/healthz", tmp / "server.log"):
                http_json(f"{base}/api/rooms", {"id": ROOM, "title": "Bench", "host": "Mia"},
                          admin)  # fmt: skip
                products = [f"p{i}" for i in range(15)]
                written = time.perf_counter()
                entries, log_bytes = asyncio.run(_write_log(redis.url, products))
                written = time.perf_counter() - written
                api = f"{base}/api/rooms/{ROOM}/shows/{SHOW}"
                starts = []
                for _ in range(rounds):
                    took, body = _get(api)
                    detail = json.loads(body)
                    first = detail["first"]
                    took += _get(f"{api}/events?from={first}&to={first + 30}")[0]
                    took += _get(f"{base}{detail['base']}init-1.mp4")[0]
                    took += _get(f"{base}{detail['base']}seg-000000.m4s")[0]
                    starts.append(took)
                chapters = detail["chapters"]
                last = next(c for c in reversed(chapters) if c["end"] - c["at"] >= 299)
                clip_took, clip = _get(f"{base}{last['clip']}")
                cached_took, _ = _get(f"{base}{last['clip']}")
                late = f"{api}/events?from={detail['duration'] - 60}&to={detail['duration']}"
                seek_took, _ = _get(late)
    shutil.rmtree(tmp_name, ignore_errors=True)
    return {
        "segments": count,
        "chat_entries": entries,
        "chapters": len(chapters),
        "log_mib_per_hour": round(log_bytes / HOURS / 2**20, 1),
        "log_written_s": round(written, 1),
        "page_start_s": round(min(starts), 3),
        "page_start_worst_s": round(max(starts), 3),
        "late_seek_window_s": round(seek_took, 3),
        "clip_chapter_s": round(last["end"] - last["at"], 1),
        "clip_bytes": len(clip),
        "clip_cut_s": round(clip_took, 3),
        "clip_cached_s": round(cached_took, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = run(args.rounds)
    print("replay bench: a 3-hour show, 50 chat messages a second, a pin every 5 minutes")
    for name, value in figures.items():
        print(f"  {name:22} {value}")


if __name__ == "__main__":
    main()
