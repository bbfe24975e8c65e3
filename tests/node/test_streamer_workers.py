"""``livecart serve --workers 2`` as a user runs it: a real subprocess with its private
Redis. The printed host token works on every worker; video and HLS reach viewers on
both workers from one WHIP publisher.

Which worker takes a connection is the kernel's choice; every streamer response names
its process (``X-Livecart-Process``), so the test proves the spread instead of hoping.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from livecart.redis_process import free_port
from livecart.streamer.app import PROCESS_HEADER
from livecart.streamer.fanout import HEADER, KIND_FRAGMENT, KIND_INIT, TRACK_VIDEO
from livecart.streamer.synthetic import PacketTrack, encode_clip, whip_publish

ROOM = "demo"
STARTUP = 60.0


@asynccontextmanager
async def serve(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """Run ``livecart serve --workers 2``; yield its URL and the host token it printed."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    argv = ["serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--data-dir", str(tmp_path / "data"), "--ice-hosts", "127.0.0.1"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "livecart",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    output: list[str] = []

    async def token_line() -> str:
        assert proc.stdout is not None
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, "serve exited:\n" + "".join(output)
            output.append(line)
            found = re.search(r"#token=(\S+)", line)
            if found:
                return found.group(1)

    async def drain() -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            output.append(line.decode())

    drainer: asyncio.Task[None] | None = None
    try:
        token = await asyncio.wait_for(token_line(), STARTUP)
        drainer = asyncio.create_task(drain())
        yield f"http://127.0.0.1:{port}", token
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if drainer is not None:
            await drainer


def fresh(source: int) -> aiohttp.ClientSession:
    """A session whose connections come from 127.0.0.<source> and are never reused, so
    each request is a new accept (either worker) and WHIP's per-address limit is not hit."""
    connector = aiohttp.TCPConnector(force_close=True, local_addr=(f"127.0.0.{source}", 0))
    return aiohttp.ClientSession(connector=connector)


async def token_works_on_every_worker(base: str, token: str) -> None:
    """WHIP checks the token before the offer: a garbage offer is 400 when the token is
    accepted (or 429 once the room's publish bucket is spent), 401 when not. 40 new
    connections, which the kernel spreads over both."""
    statuses: dict[str, set[int]] = {}
    for i in range(40):
        async with (
            fresh(2 + i) as http,
            http.post(
                f"{base}/whip/{ROOM}",
                data="not an offer",
                headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
            ) as resp,
        ):
            text = await resp.text()
            # 429 after a valid token names the room's bucket; after a refused one, the
            # address's failed attempts.
            status = 4291 if resp.status == 429 and "for this room" in text else resp.status
            statuses.setdefault(resp.headers[PROCESS_HEADER], set()).add(status)
    assert len(statuses) == 2, f"all 40 requests landed on one worker: {statuses}"
    # 400: the token was accepted and the offer refused; 4291: accepted, and the room's
    # bucket of publish attempts is spent; a refused token is 401 (then 429).
    assert all(s and s <= {400, 4291} for s in statuses.values()), statuses


async def test_the_token_printed_by_a_second_start_works_on_every_worker(tmp_path: Path) -> None:
    async with serve(tmp_path) as (base, first):
        await token_works_on_every_worker(base, first)
    async with serve(tmp_path) as (base, second):  # the demo room exists: the admin token
        assert second.startswith("adm_")
        await token_works_on_every_worker(base, second)
        await token_works_on_every_worker(base, first)


async def spread_viewers(
    base: str, sessions: list[aiohttp.ClientSession]
) -> list[tuple[str, aiohttp.ClientWebSocketResponse]]:
    """20 video viewers, each with the process id of the worker it landed on, on both
    workers; the sockets opened on the way that were not needed are closed."""
    viewers: list[tuple[str, aiohttp.ClientWebSocketResponse]] = []
    spare: list[aiohttp.ClientWebSocketResponse] = []
    for http in sessions:
        ws = await http.ws_connect(f"{base}/ws/video/{ROOM}")
        assert ws._response is not None
        pid = ws._response.headers[PROCESS_HEADER]
        pids = {p for p, _ in viewers}
        if len(viewers) < 20 and (len(viewers) < 19 or pid not in pids or len(pids) == 2):
            viewers.append((pid, ws))
        else:
            spare.append(ws)
        if len(viewers) == 20 and len({p for p, _ in viewers}) == 2:
            break
    for ws in spare:
        await ws.close()
    return viewers


async def watch(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, int]:
    """The video init segments and (after an init) the video fragments one viewer gets
    within 20 s, stopping at 30 fragments."""
    inits = fragments = 0
    deadline = time.monotonic() + 20
    while fragments < 30 and time.monotonic() < deadline:
        try:
            msg = await ws.receive(timeout=deadline - time.monotonic())
        except TimeoutError:
            break
        if msg.type != aiohttp.WSMsgType.BINARY:
            continue
        kind, _flags, track, *_ = HEADER.unpack_from(msg.data)
        if track == TRACK_VIDEO and kind == KIND_INIT:
            inits += 1
        elif track == TRACK_VIDEO and kind == KIND_FRAGMENT and inits:
            fragments += 1
    return inits, fragments


async def fetch_from(base: str, path: str, want: set[str]) -> dict[str, tuple[int, bytes]]:
    """GET ``path`` on new connections until every worker in ``want`` has answered:
    (status, body) per worker's process id."""
    got: dict[str, tuple[int, bytes]] = {}
    for i in range(60):
        async with fresh(200 + i % 50) as http, http.get(f"{base}{path}") as resp:
            got[resp.headers[PROCESS_HEADER]] = (resp.status, await resp.read())
        if set(got) >= want:
            break
    assert set(got) >= want, f"{path} never reached both workers"
    return got


async def agreed_playlist(base: str, workers: set[str]) -> str:
    """The live video playlist, once both workers serve the same one with 2 segments."""
    deadline = time.monotonic() + 20
    while True:
        assert time.monotonic() < deadline, "workers never agreed on the playlist"
        got = await fetch_from(base, f"/hls/{ROOM}/video.m3u8", workers)
        texts = {body for status, body in got.values() if status == 200}
        if len(texts) == 1 and len(got) == 2 and texts.pop().count(b"#EXTINF") >= 2:
            return next(iter(got.values()))[1].decode()
        await asyncio.sleep(0.3)


async def test_workers_share_token_video_and_hls(tmp_path: Path) -> None:
    async with serve(tmp_path) as (base, token):
        # 1. the printed host token works on every worker
        await token_works_on_every_worker(base, token)
        await asyncio.sleep(1.5)  # the room's publish bucket (1 a second) has one again

        # 2. one publisher, 20 viewers spread over both workers
        clip = encode_clip(width=320, height=240, frames=60, gop=15, bitrate=300_000)
        pc, _location = await whip_publish(f"{base}/whip/{ROOM}", token, PacketTrack(clip))
        sessions = [fresh(100 + i) for i in range(60)]
        try:
            viewers = await spread_viewers(base, sessions)
            spread = {p for p, _ in viewers}
            assert len(viewers) == 20 and len(spread) == 2, "viewers not spread"
            results = await asyncio.gather(*(watch(ws) for _, ws in viewers))
            per_worker = {
                p: sum(
                    1
                    for (q, _), r in zip(viewers, results, strict=True)
                    if q == p and r[0] >= 1 and r[1] >= 30
                )
                for p in spread
            }
            assert sum(per_worker.values()) == 20, (per_worker, results)

            # 3. HLS: the same live playlist and byte-identical segments from both workers
            playlist = await agreed_playlist(base, spread)
            uris = [ln for ln in playlist.splitlines() if ln and not ln.startswith("#")]
            uris += [ln.split('"')[1] for ln in playlist.splitlines() if "EXT-X-MAP" in ln]
            for uri in uris:
                got = await fetch_from(base, f"/hls/{ROOM}/{uri}", spread)
                bodies = {body for status, body in got.values() if status == 200}
                assert len(bodies) == 1 and all(s == 200 for s, _ in got.values()), uri
            for _, ws in viewers:
                await ws.close()
        finally:
            await pc.close()
            for http in sessions:
                await http.close()
