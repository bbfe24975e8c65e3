"""Fragmented MP4 (ISO BMFF) boxes, written by hand.

Sans-I/O: functions take plain values and return ``bytes``. One track per init
segment (CMAF style), so a video track and an audio track are two independent
streams that MSE feeds into two ``SourceBuffer``\\ s and HLS into two renditions.

- :func:`video_init_segment` / :func:`opus_init_segment` / :func:`aac_init_segment`
  -> ``ftyp`` + ``moov``
- :func:`media_fragment` -> ``moof`` + ``mdat`` for one or more samples

Why by hand and not PyAV's ``mp4`` muxer: we want exactly one fragment per
frame for the low-latency path (no muxer flushing tricks), the bytes must be
built once and shared by every viewer, HLS segments and recordings, and the
whole thing is ~250 lines of pure code that tests parse back with PyAV. See
docs/streaming.md for the measurement.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from livecart.streamer.h264 import SpsInfo, is_high_profile

VIDEO_TIMESCALE = 90_000
OPUS_TIMESCALE = 48_000

_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_SAMPLE_SYNC = 0x02000000  # sample_depends_on = 2 (an I picture)
_SAMPLE_NON_SYNC = 0x01010000  # depends_on = 1, sample_is_non_sync_sample = 1


def box(kind: bytes, *payload: bytes) -> bytes:
    """One ISO BMFF box: 32-bit size, 4-character type, payload."""
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A box with the version/flags word of a ``FullBox``."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


@dataclass(frozen=True, slots=True)
class Sample:
    """One coded sample in a fragment: payload, duration in timescale units."""

    data: bytes
    duration: int
    keyframe: bool


def _ftyp() -> bytes:
    return box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6", b"cmfc", b"mp41")


def _mvhd(timescale: int) -> bytes:
    return full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIIIIH", 0, 0, timescale, 0, 0x10000, 0x0100),
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", 2),  # next_track_ID
    )


def _tkhd(track_id: int, width: int, height: int, audio: bool) -> bytes:
    return full_box(
        b"tkhd",
        0,
        0x3,  # enabled, in movie
        struct.pack(">IIIII", 0, 0, track_id, 0, 0),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0x0100 if audio else 0, 0),
        _MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )


def _mdia(timescale: int, handler: bytes, name: bytes, media_header: bytes, stsd: bytes) -> bytes:
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0))
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I4s", 0, handler), bytes(12), name + b"\x00")
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    stbl = box(
        b"stbl",
        stsd,
        full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    return box(b"mdia", mdhd, hdlr, box(b"minf", media_header, dinf, stbl))


def _moov(timescale: int, trak: bytes, track_id: int) -> bytes:
    trex = full_box(b"trex", 0, 0, struct.pack(">IIIII", track_id, 1, 0, 0, 0))
    return box(b"moov", _mvhd(timescale), trak, box(b"mvex", trex))


def avcc(sps: bytes, pps: bytes, info: SpsInfo) -> bytes:
    """The ``avcC`` decoder configuration record for one SPS and one PPS."""
    body = (
        bytes([1, info.profile_idc, info.constraint_flags, info.level_idc, 0xFF, 0xE1])
        + struct.pack(">H", len(sps))
        + sps
        + bytes([1])
        + struct.pack(">H", len(pps))
        + pps
    )
    if is_high_profile(info.profile_idc):
        body += bytes(
            [
                0xFC | (info.chroma_format_idc & 3),
                0xF8 | ((info.bit_depth_luma - 8) & 7),
                0xF8 | ((info.bit_depth_chroma - 8) & 7),
                0,
            ]
        )
    return box(b"avcC", body)


def video_init_segment(sps: bytes, pps: bytes, info: SpsInfo, track_id: int = 1) -> bytes:
    """``ftyp`` + ``moov`` for one H.264 track (``avc1``, 90 kHz timescale)."""
    entry = box(
        b"avc1",
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(16),
        struct.pack(">HHII", info.width, info.height, 0x00480000, 0x00480000),
        bytes(4),
        struct.pack(">H", 1),  # frame_count
        bytes(32),  # compressorname
        struct.pack(">Hh", 0x18, -1),
        avcc(sps, pps, info),
    )
    stsd = full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry)
    vmhd = full_box(b"vmhd", 0, 1, bytes(8))
    mdia = _mdia(VIDEO_TIMESCALE, b"vide", b"video", vmhd, stsd)
    trak = box(b"trak", _tkhd(track_id, info.width, info.height, audio=False), mdia)
    return _ftyp() + _moov(VIDEO_TIMESCALE, trak, track_id)


def opus_init_segment(channels: int = 2, pre_skip: int = 312, track_id: int = 1) -> bytes:
    """``ftyp`` + ``moov`` for one Opus track (``Opus`` + ``dOps``, 48 kHz)."""
    dops = box(b"dOps", struct.pack(">BBHIhB", 0, channels, pre_skip, OPUS_TIMESCALE, 0, 0))
    entry = box(
        b"Opus",
        bytes(6),
        struct.pack(">H", 1),
        bytes(8),
        struct.pack(">HHHHI", channels, 16, 0, 0, OPUS_TIMESCALE << 16),
        dops,
    )
    stsd = full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry)
    smhd = full_box(b"smhd", 0, 0, bytes(4))
    mdia = _mdia(OPUS_TIMESCALE, b"soun", b"audio", smhd, stsd)
    trak = box(b"trak", _tkhd(track_id, 0, 0, audio=True), mdia)
    return _ftyp() + _moov(OPUS_TIMESCALE, trak, track_id)


def _descriptor(tag: int, body: bytes) -> bytes:
    """An MPEG-4 descriptor with a 4-byte expandable length."""
    n = len(body)
    size = bytes(
        [0x80 | (n >> 21) & 0x7F, 0x80 | (n >> 14) & 0x7F, 0x80 | (n >> 7) & 0x7F, n & 0x7F]
    )
    return bytes([tag]) + size + body


def aac_init_segment(
    audio_specific_config: bytes, channels: int = 2, sample_rate: int = 48_000, bitrate: int = 0
) -> bytes:
    """``ftyp`` + ``moov`` for one AAC track (``mp4a`` + ``esds``, timescale = sample rate)."""
    decoder_config = _descriptor(
        4,
        struct.pack(">BBBHII", 0x40, 0x15, 0, 0, bitrate, bitrate)  # AAC, audio stream
        + _descriptor(5, audio_specific_config),
    )
    es = _descriptor(3, struct.pack(">HB", 1, 0) + decoder_config + _descriptor(6, b"\x02"))
    entry = box(
        b"mp4a",
        bytes(6),
        struct.pack(">H", 1),
        bytes(8),
        struct.pack(">HHHHI", channels, 16, 0, 0, sample_rate << 16),
        full_box(b"esds", 0, 0, es),
    )
    stsd = full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry)
    smhd = full_box(b"smhd", 0, 0, bytes(4))
    mdia = _mdia(sample_rate, b"soun", b"audio", smhd, stsd)
    trak = box(b"trak", _tkhd(1, 0, 0, audio=True), mdia)
    return _ftyp() + _moov(sample_rate, trak, 1)


def media_fragment(
    sequence: int, base_decode_time: int, samples: Sequence[Sample], track_id: int = 1
) -> bytes:
    """``moof`` + ``mdat`` carrying ``samples`` back to back from ``base_decode_time``.

    ``sequence`` is the ``mfhd`` sequence number (1-based, increasing).
    """
    if not samples:
        raise ValueError("a fragment needs at least one sample")
    entries = b"".join(
        struct.pack(
            ">III",
            s.duration,
            len(s.data),
            _SAMPLE_SYNC if s.keyframe else _SAMPLE_NON_SYNC,
        )
        for s in samples
    )
    trun_size = 12 + 8 + len(entries)
    tfhd = full_box(b"tfhd", 0, 0x020000, struct.pack(">I", track_id))
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", base_decode_time))
    mfhd = full_box(b"mfhd", 0, 0, struct.pack(">I", sequence))
    traf_size = 8 + len(tfhd) + len(tfdt) + trun_size
    moof_size = 8 + len(mfhd) + traf_size
    trun = full_box(
        b"trun",
        0,
        0x000701,  # data-offset, sample duration, size, flags present
        struct.pack(">Ii", len(samples), moof_size + 8),
        entries,
    )
    moof = box(b"moof", mfhd, box(b"traf", tfhd, tfdt, trun))
    return moof + box(b"mdat", *(s.data for s in samples))


def read_boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(type, payload)`` for each top-level box; raises ValueError if truncated."""
    pos = 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("truncated box header")
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > len(data):
            raise ValueError(f"bad size {size} for box {kind!r}")
        yield kind, data[pos + 8 : pos + size]
        pos += size
