"""Opus packets in, fMP4 audio fragments out (kept encoded, never decoded).

Sans-I/O like :mod:`streamer.packager`. Each packet's duration comes from its
TOC byte (RFC 6716 section 3.1), so nothing is held back to learn it. Packets
are grouped ``PACKETS_PER_FRAGMENT`` at a time (60 ms at the usual 20 ms
packets) to keep the message rate per viewer low.

Timing: the caller maps each packet onto the video timeline by passing
``decode_time`` in 48 kHz units (see :class:`streamer.channel.Channel`);
packets that would go backwards or before 0 are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livecart.streamer.fmp4 import Sample, media_fragment, opus_init_segment

PACKETS_PER_FRAGMENT = 3
OPUS_CODEC = "opus"
OPUS_MIME = 'audio/mp4; codecs="opus"'

_SILK = (480, 960, 1920, 2880)  # 10, 20, 40, 60 ms at 48 kHz
_HYBRID = (480, 960)
_CELT = (120, 240, 480, 960)  # 2.5, 5, 10, 20 ms


def packet_duration(packet: bytes) -> int:
    """Samples at 48 kHz in one Opus packet; 0 if the packet is malformed."""
    if not packet:
        return 0
    toc = packet[0]
    config = toc >> 3
    if config < 12:
        frame = _SILK[config & 3]
    elif config < 16:
        frame = _HYBRID[config & 1]
    else:
        frame = _CELT[config & 3]
    code = toc & 3
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:
        if len(packet) < 2:
            return 0
        count = packet[1] & 0x3F
    total = frame * count
    return total if 0 < total <= 5760 else 0  # at most 120 ms per packet


@dataclass(frozen=True, slots=True)
class AudioFragment:
    """A ``moof``+``mdat`` of a few Opus packets on the show's timeline (48 kHz)."""

    sequence: int
    decode_time: int
    duration: int
    produced_at: float
    data: bytes


@dataclass(slots=True)
class AudioPackager:
    """Groups Opus packets into fragments of the audio track."""

    channels: int = 2
    frames_in: int = 0
    dropped: int = 0
    sequence: int = 0
    _pending: list[Sample] = field(default_factory=list)
    _start: int = 0
    _next: int | None = None
    _first_arrival: float = 0.0

    @property
    def init_segment(self) -> bytes:
        """The audio track's init segment (static for Opus)."""
        return opus_init_segment(self.channels)

    def push(self, packet: bytes, decode_time: int, now: float) -> list[AudioFragment]:
        """Feed one packet placed at ``decode_time``; return a fragment when one fills."""
        self.frames_in += 1
        duration = packet_duration(packet)
        if duration == 0 or decode_time < 0:
            self.dropped += 1
            return []
        if self._next is not None and decode_time < self._next - duration // 2:
            self.dropped += 1  # overlaps what was already sent
            return []
        out: list[AudioFragment] = []
        if self._pending and decode_time != self._next:
            out += self.flush()  # a gap: start a fresh fragment at the real time
        if not self._pending:
            self._start = decode_time
            self._first_arrival = now
        self._pending.append(Sample(packet, duration, True))
        self._next = decode_time + duration
        if len(self._pending) >= PACKETS_PER_FRAGMENT:
            out += self.flush()
        return out

    def flush(self) -> list[AudioFragment]:
        """Emit what is pending (end of show, or before a gap)."""
        if not self._pending:
            return []
        samples, self._pending = self._pending, []
        self.sequence += 1
        data = media_fragment(self.sequence, self._start, samples)
        duration = sum(s.duration for s in samples)
        return [AudioFragment(self.sequence, self._start, duration, self._first_arrival, data)]
