"""The aiortc internals that streamer.aiortc_hook relies on (aiortc pinned to 1.16.0).

If one of these fails after an aiortc upgrade, do not loosen the test: read the
new RTCRtpReceiver and adapt streamer/aiortc_hook.py (and the pin) together.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiortc
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, rtcrtpreceiver

from livecart.streamer.aiortc_hook import (
    PINNED_AIORTC,
    check_aiortc,
    gather_with_hosts,
    send_pli,
    tap_encoded_frames,
)
from livecart.streamer.errors import HookBroken
from livecart.streamer.h264 import split_annexb
from livecart.streamer.synthetic import PacketTrack, encode_clip
from tests.streamer_fixtures.harness import wait_for


def test_installed_aiortc_is_the_pinned_one_with_the_hooked_internals() -> None:
    assert aiortc.__version__ == PINNED_AIORTC
    check_aiortc()  # raises HookBroken naming every internal that moved


async def test_tap_gets_every_encoded_frame_and_no_decoder_is_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[str] = []
    real = rtcrtpreceiver.get_decoder

    def spy(codec: Any) -> Any:
        created.append(codec.name)
        return real(codec)

    monkeypatch.setattr(rtcrtpreceiver, "get_decoder", spy)
    clip = encode_clip(frames=45, gop=15)
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    got: list[tuple[bytes, int]] = []
    try:
        track = PacketTrack(clip)
        sender.addTransceiver(track, direction="sendonly")
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        rtp_receiver = receiver.getTransceivers()[0].receiver
        tap = tap_encoded_frames(rtp_receiver, lambda data, ts: got.append((data, ts)))
        await gather_with_hosts(receiver, ["127.0.0.1"])
        assert any(
            c.ip == "127.0.0.1"
            for c in receiver.getTransceivers()[
                0
            ].receiver.transport.transport.iceGatherer.getLocalCandidates()
        )
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        await wait_for(lambda: len(got) >= 40, 15, "40 encoded frames")
        assert tap.frames == len(got)
        # Byte-exact NAL units and 90 kHz timestamps from 0, frame after frame.
        for i, (data, ts) in enumerate(got[:40]):
            assert split_annexb(data) == split_annexb(clip[i].data), i
            assert ts == i * 3000
        assert await send_pli(rtp_receiver)
        with pytest.raises(HookBroken):
            tap_encoded_frames(rtp_receiver, lambda data, ts: None)  # already started
    finally:
        await sender.close()
        await receiver.close()
    await asyncio.sleep(0)
    assert created == []
