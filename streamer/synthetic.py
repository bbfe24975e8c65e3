"""A synthetic H.264 source and WHIP publisher for tests and the benchmark.

Encodes a short moving test pattern once with PyAV's libx264 (constrained
baseline, no B-frames, Annex B with SPS/PPS before every keyframe, like a WebRTC
encoder sends) and hands back the access units with their 90 kHz timestamps.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from livecart.streamer.fmp4 import VIDEO_TIMESCALE


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One Annex B access unit and its presentation time in 90 kHz units."""

    data: bytes
    timestamp: int
    keyframe: bool


def encode_clip(
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 30,
    frames: int = 60,
    gop: int = 60,
    bitrate: int = 600_000,
) -> list[EncodedFrame]:
    """Encode ``frames`` pictures; a keyframe every ``gop`` frames (first is one)."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width = width
    codec.height = height
    codec.pix_fmt = "yuv420p"
    codec.time_base = Fraction(1, fps)
    codec.framerate = Fraction(fps, 1)
    codec.bit_rate = bitrate
    codec.gop_size = gop
    codec.max_b_frames = 0
    codec.options = {
        "profile": "baseline",
        "preset": "ultrafast",
        "tune": "zerolatency",
        "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1:annexb=1",
    }
    ticks = VIDEO_TIMESCALE // fps
    out: list[EncodedFrame] = []
    # Seeded noise that slides 4 pixels a frame: hard enough to compress that the
    # encoder reaches its bitrate, like a camera picture does; never static.
    noise = random.Random(1).randbytes(width + height + 4 * frames + 8)
    ramp = bytes(b // 2 + 64 for b in noise)
    chroma = bytes([128]) * (width * height // 4)
    for i in range(frames):
        luma = b"".join(ramp[y + 4 * i : y + 4 * i + width] for y in range(height))
        frame = av.VideoFrame(width, height, "yuv420p")
        for index, plane in enumerate(frame.planes):
            _fill(plane, chroma if index else luma, width // 2 if index else width)
        frame.pts = i
        for packet in codec.encode(frame):
            out.append(_frame(packet, ticks))
    for packet in codec.encode(None):
        out.append(_frame(packet, ticks))
    return out


def encode_opus(packets: int) -> list[bytes]:
    """Encode ``packets`` 20 ms Opus packets (48 kHz stereo, a 440 Hz tone) with libopus."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = 48000
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 64000
    out: list[bytes] = []
    pts = 0
    for _ in range(packets + 10):
        tone = bytearray()
        for i in range(960):
            v = int(8000 * math.sin(2 * math.pi * 440 * (pts + i) / 48000))
            tone += v.to_bytes(2, "little", signed=True) * 2
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.sample_rate = 48000
        frame.planes[0].update(bytes(tone))
        frame.pts = pts
        pts += 960
        out += [bytes(p) for p in codec.encode(frame)]
        if len(out) >= packets:
            break
    return out[:packets]


def _fill(plane: av.video.plane.VideoPlane, data: bytes, row: int) -> None:
    """Copy tightly packed rows into a plane that may have a wider line stride."""
    stride = plane.line_size
    if stride == row:
        plane.update(data)
        return
    rows = len(data) // row
    padded = b"".join(data[r * row : (r + 1) * row] + bytes(stride - row) for r in range(rows))
    plane.update(padded)


def _frame(packet: av.Packet[Any], ticks: int) -> EncodedFrame:
    assert packet.pts is not None
    return EncodedFrame(bytes(packet), int(packet.pts) * ticks, bool(packet.is_keyframe))


class PacketTrack(MediaStreamTrack):
    """A video track that replays encoded frames in a loop, paced in real time.

    aiortc's sender packetizes ``av.Packet``\\ s as they are (no encoding), so
    a publisher built on this track costs the server exactly what a browser
    publisher does: RTP/SRTP receive, depayloading, packaging, fan-out.
    """

    kind = "video"

    def __init__(self, frames: list[EncodedFrame], fps: int = 30) -> None:
        super().__init__()
        if not frames or not frames[0].keyframe:
            raise ValueError("the clip must start with a keyframe")
        self.frames = frames
        self.fps = fps
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet[Any]:
        """The next encoded frame as a packet, not before its time at ``fps`` (loops the clip)."""
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self.sent / self.fps
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = self.frames[self.sent % len(self.frames)]
        packet = av.Packet(frame.data)
        packet.pts = self.sent
        packet.time_base = Fraction(1, self.fps)
        self.sent += 1
        return packet


class OpusPacketTrack(MediaStreamTrack):
    """An audio track that replays Opus packets (20 ms each) in a loop, in real time."""

    kind = "audio"

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__()
        if not packets:
            raise ValueError("no packets")
        self.packets = packets
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet[Any]:
        """The next Opus packet (20 ms at 48 kHz), not before its time (loops the packets)."""
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        delay = self._start + self.sent * 0.020 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self.packets[self.sent % len(self.packets)])
        packet.pts = self.sent * 960
        packet.time_base = Fraction(1, 48000)
        self.sent += 1
        return packet


async def whip_publish(
    url: str, token: str, *tracks: MediaStreamTrack
) -> tuple[RTCPeerConnection, str]:
    """Publish ``tracks`` to a WHIP endpoint with aiortc; return the connection and Location.

    ICE uses host candidates only (no STUN server is contacted). Raises
    ``RuntimeError`` with the HTTP status if the server does not answer 201.
    """
    import aiohttp

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    for track in tracks:
        pc.addTransceiver(track, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=pc.localDescription.sdp, headers=headers) as resp,
    ):
        text = await resp.text()
        if resp.status != 201:
            await pc.close()
            raise RuntimeError(f"WHIP POST answered {resp.status}: {text.strip()}")
        location = resp.headers["Location"]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))
    return pc, location
