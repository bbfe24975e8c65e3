"""A synthetic host for the video scenario: publishes over WHIP for a bounded time.

``livecart loadtest --scenario video --publish`` starts this in its own process: it
encodes a short 640x360 test clip once (libx264, no B-frames) and publishes it in a
loop, with Opus audio, to ``<url>/whip/<room>`` with the host token, using the
streamer's own test publisher (``streamer.synthetic``), so the viewers get real fMP4
fragments through the real packager and fan-out. It stops after ``seconds`` or when the
parent closes the pipe, and ends the WHIP session.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import quote

from livecart.loadtest.client_pool import run_on_uvloop


def publisher_main(base: str, room: str, token: str, seconds: float, conn: Any) -> None:
    run_on_uvloop(_publish(base, room, token, seconds, conn))


async def _publish(base: str, room: str, token: str, seconds: float, conn: Any) -> None:
    from livecart.streamer.synthetic import (
        OpusPacketTrack,
        PacketTrack,
        encode_clip,
        encode_opus,
        whip_publish,
    )

    clip = encode_clip(width=640, height=360, fps=30, frames=60, gop=60, bitrate=800_000)
    tracks: list[Any] = [PacketTrack(clip), OpusPacketTrack(encode_opus(250))]
    try:
        pc, location = await whip_publish(f"{base}/whip/{quote(room, safe='')}", token, *tracks)
    except Exception as exc:  # report any failure to the parent, then stop
        conn.send({"kind": "publisher", "ok": False, "error": str(exc)[:300]})
        return
    conn.send({"kind": "publisher", "ok": True, "location": location})
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def on_pipe() -> None:
        if not stop.done():
            stop.set_result(None)

    loop.add_reader(conn.fileno(), on_pipe)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop, seconds)
    finally:
        loop.remove_reader(conn.fileno())
        await pc.close()
        import aiohttp

        # Only ever the server we were given: a relative Location.
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            if location.startswith("/"):
                await _delete(base + location, token)


async def _delete(url: str, token: str) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.delete(
            url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=5),
        ),
    ):
        pass
