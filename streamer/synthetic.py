"""A synthetic H.264 source for tests and the benchmark.

Encodes a short moving test pattern once with PyAV's libx264 (constrained
baseline, no B-frames, Annex B with SPS/PPS before every keyframe, like a WebRTC
encoder sends) and hands back the access units with their 90 kHz timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from streamer.fmp4 import VIDEO_TIMESCALE


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
    ramp = bytes(range(256)) * ((width + height + 4 * frames) // 256 + 2)
    chroma = bytes([128]) * (width * height // 4)
    for i in range(frames):
        # a diagonal ramp that moves 4 pixels a frame: cheap, and never static
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
