"""Cheap checks on a WHIP SDP offer before any peer connection exists.

Pure text inspection, so a malformed or unusable offer is refused with 400
without allocating sockets or DTLS state. The checks are deliberately shallow:
aiortc's parser has the last word, and its errors also map to 400.
"""

from __future__ import annotations

from dataclasses import dataclass

from livecart.limits import MAX_OFFER_BYTES
from livecart.streamer.errors import NoH264Video, OfferRejected


@dataclass(frozen=True, slots=True)
class OfferSummary:
    """What the offer carries: media kinds in order, and whether audio is Opus."""

    kinds: tuple[str, ...]
    has_opus: bool


def check_offer(text: str) -> OfferSummary:
    """Validate an SDP offer's shape; raise :class:`OfferRejected` with a reason.

    Requires ``v=0``, ICE credentials and a DTLS fingerprint (at session or
    media level) and at least one ``m=video`` section offering H.264
    (:class:`NoH264Video` otherwise).
    """
    if len(text) > MAX_OFFER_BYTES:
        raise OfferRejected("offer too large")
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise OfferRejected("not an SDP document (must start with v=0)")
    for line in lines:
        if len(line) < 2 or line[1] != "=":
            raise OfferRejected("malformed SDP line")
    text_all = "\n".join(lines)
    if "a=ice-ufrag:" not in text_all or "a=ice-pwd:" not in text_all:
        raise OfferRejected("offer has no ICE credentials")
    if "a=fingerprint:" not in text_all:
        raise OfferRejected("offer has no DTLS fingerprint")

    kinds: list[str] = []
    h264_video = False
    has_opus = False
    kind = ""
    for line in lines:
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
            kinds.append(kind)
        elif line.startswith("a=rtpmap:") and kind:
            parts = line.split(" ", 1)
            codec = parts[1].split("/", 1)[0].upper() if len(parts) == 2 else ""
            if kind == "video" and codec == "H264":
                h264_video = True
            elif kind == "audio" and codec == "OPUS":
                has_opus = True
    if "video" not in kinds:
        raise NoH264Video("offer has no video")
    if not h264_video:
        raise NoH264Video("offer has no H.264 video")
    return OfferSummary(kinds=tuple(kinds), has_opus=has_opus)
