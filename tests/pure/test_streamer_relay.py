"""The relay's message format and the edge's rules (streamer.relay): plain data."""

from __future__ import annotations

import pytest

from livecart.streamer.fanout import audio_message, fragment_message, init_messages
from livecart.streamer.opus import AudioFragment
from livecart.streamer.packager import Fragment, InitSegment
from livecart.streamer.relay import (
    KEEP_SEGMENTS,
    EdgeHls,
    EdgeSync,
    RelayEnd,
    RelayInit,
    RelaySegment,
    Replayed,
    decode,
    encode_audio,
    encode_end,
    encode_fragment,
    encode_init,
    encode_segment,
)

INIT = InitSegment(1, "avc1.42e01f", 640, 360, b"\x00\x00\x00\x18ftypiso6" + bytes(100))
START = RelayInit(INIT, "q1W2e3R4", "20261121T220300Z-3f9a1c", b"opus-init")


def frag(seq: int, key: bool = False) -> Fragment:
    # a produced_at whose microseconds are not exact in binary floating point
    return Fragment(1, seq, key, seq * 3000, 3000, 1763762580.123457 + seq / 30, bytes([seq]) * 50)


def test_round_trip_gives_the_same_objects_and_the_same_websocket_bytes() -> None:
    f = frag(7, key=True)
    back = decode(encode_fragment(f))
    assert back == f and fragment_message(back) == fragment_message(f)  # type: ignore[arg-type]
    a = AudioFragment(3, 48_000, 2880, 1763762580.987654, b"opus" * 10)
    assert decode(encode_audio(a)) == a
    assert audio_message(decode(encode_audio(a))) == audio_message(a)  # type: ignore[arg-type]
    start = decode(encode_init(START))
    assert start == START
    assert isinstance(start, RelayInit)
    assert init_messages(start.init, start.stream, start.audio_init) == init_messages(
        INIT, START.stream, START.audio_init
    )
    assert decode(encode_init(RelayInit(INIT, "s", "show", None))) == RelayInit(
        INIT, "s", "show", None
    )
    assert decode(encode_end("q1W2e3R4")) == RelayEnd("q1W2e3R4")
    assert decode(encode_fragment(f, replay=True)) == Replayed(f)
    seg = RelaySegment("show", {"codec": "avc1"}, [{"index": 0}], {"seg-000000.m4s": b"xyz"})
    assert decode(encode_segment(seg)) == seg


def test_header_is_compact() -> None:
    f = frag(1)
    assert len(encode_fragment(f)) - len(f.data) == 30


@pytest.mark.parametrize("bad", [b"", b"\x01", b"\x09\x00", b"\x03\x00\x00\x00\x00\x05{}"])
def test_malformed_messages_raise_value_error(bad: bytes) -> None:
    with pytest.raises(ValueError):
        decode(bad)


def test_unsynced_edge_drops_live_media_until_a_bundle_or_a_live_init() -> None:
    edge = EdgeSync()
    assert not edge.accept(frag(5))  # joined mid-GOP: no init yet
    replay_init = RelayInit(INIT, START.stream, START.show, None, replay=True)
    assert edge.accept(replay_init)
    assert edge.accept(Replayed(frag(1, key=True)))
    assert edge.accept(Replayed(frag(2)))
    assert edge.accept(frag(3))  # live again
    # a bundle for another edge: ignored by this synced one
    assert not edge.accept(replay_init)
    assert not edge.accept(Replayed(frag(1, key=True)))
    assert edge.accept(frag(4))
    # another origin's end (a replaced publisher) does not end our stream
    assert not edge.accept(RelayEnd("other"))
    assert edge.accept(RelayEnd(START.stream))
    assert not edge.accept(frag(5))
    assert edge.accept(START)  # the next show's live init syncs everyone


def record(i: int) -> dict[str, object]:
    return {
        "index": i,
        "uri": f"seg-{i:06d}.m4s",
        "init": "init-1.mp4",
        "generation": 1,
        "start": i * 2.0,
        "duration": 2.0,
        "discontinuity": False,
        "wallclock": 1.0 + i,
        "bytes": 1000,
        "audio_uri": None,
        "aac_uri": None,
    }


HEADER = {"version": 2, "codec": "avc1.42e01f", "ended_at": None, "aac": None, "audio": None}
HEADER["inits"] = {"1": {"uri": "init-1.mp4", "codec": "avc1.42e01f", "width": 640, "height": 360}}


def live(i: int, show: str = "s1") -> RelaySegment:
    files = {f"seg-{i:06d}.m4s": bytes([i]), "init-1.mp4": b"init"}
    return RelaySegment(show, HEADER, [record(i)], files)


def test_edge_hls_follows_syncs_and_resyncs_after_a_gap() -> None:
    hls = EdgeHls()
    hls.accept(live(3))  # mid-show without a sync: not in step
    assert not hls.in_step
    sync = RelaySegment(
        "s1",
        HEADER,
        [record(i) for i in range(4)],
        {"seg-000003.m4s": b"\x03", "init-1.mp4": b"init"},
        sync=True,
    )
    hls.accept(sync)
    assert hls.current is not None and hls.current.last_index == 3
    assert hls.file("s1", "seg-000003.m4s") == b"\x03"
    assert hls.file("s1", "init-1.mp4") == b"init"
    hls.accept(live(4))
    text = hls.current.playlist("video")
    assert text is not None and "s1/seg-000004.m4s" in text and "#EXT-X-MEDIA-SEQUENCE:0" in text
    hls.accept(sync)  # a sync for another edge, behind us: ignored
    assert hls.current.last_index == 4
    for i in range(5, 5 + KEEP_SEGMENTS + 2):
        hls.accept(live(i))
    assert hls.file("s1", "seg-000004.m4s") is None  # slid out of what is kept
    assert hls.file("s1", "init-1.mp4") == b"init"
    hls.accept(live(30))  # a gap: wait for the next sync
    assert not hls.in_step
    hls.accept(live(0, show="s2"))  # a new show starts at 0
    assert hls.current is not None and hls.current.show == "s2"
    hls.end("s2")
    assert not hls.in_step and hls.ended
