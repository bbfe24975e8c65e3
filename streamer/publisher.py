"""One WHIP publish session: an aiortc peer connection feeding a :class:`Channel`.

Thin adapter. H.264 is forced on the video transceiver (and Opus on audio)
before ``setRemoteDescription``; encoded frames are tapped from the receivers
(:mod:`streamer.aiortc_hook`) and never decoded. A background task sends the
periodic keyframe request. The session ends when :meth:`Publisher.close` is
called (DELETE, replacement, shutdown), the connection fails, or it does not
connect within :data:`CONNECT_TIMEOUT` (an offer whose sender never shows up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError

from livecart.streamer.aiortc_hook import gather_with_hosts, send_pli, tap_encoded_frames
from livecart.streamer.channel import Channel
from livecart.streamer.errors import OfferRejected
from livecart.streamer.sdp_check import check_offer

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15.0
"""Seconds a new session gets to complete ICE and DTLS before it is closed."""


def _prefer(transceiver: RTCRtpTransceiver, mime: str) -> None:
    """Restrict a transceiver to one codec (plus its RTX) before negotiation."""
    caps = RTCRtpReceiver.getCapabilities(transceiver.kind)
    assert caps is not None
    wanted = (mime.lower(), f"{transceiver.kind}/rtx")
    chosen = [c for c in caps.codecs if c.mimeType.lower() in wanted]
    transceiver.setCodecPreferences(chosen)


class Publisher:
    """A publisher's peer connection; feeds the room's channel until closed."""

    def __init__(
        self,
        session_id: str,
        channel: Channel,
        *,
        ice_hosts: Sequence[str] = (),
        on_ended: Callable[[Publisher], None],
    ) -> None:
        self.session_id = session_id
        self.channel = channel
        self.ice_hosts = tuple(ice_hosts)
        self.on_ended = on_ended
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.video_frames = 0
        self.audio_frames = 0
        self.keyframe_requests = 0
        self.has_audio = False
        self._video_receiver: RTCRtpReceiver | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False
        self._started = False

    async def negotiate(self, offer: str) -> str:
        """Apply the WHIP offer and return the SDP answer.

        Raises :class:`OfferRejected` for an offer aiortc cannot use. On any
        exception the caller must :meth:`close` the publisher.
        """
        summary = check_offer(offer)
        pc = self.pc
        video = pc.addTransceiver("video", direction="recvonly")
        _prefer(video, "video/H264")
        audio: RTCRtpTransceiver | None = None
        if "audio" in summary.kinds and summary.has_opus:
            audio = pc.addTransceiver("audio", direction="recvonly")
            _prefer(audio, "audio/opus")
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        except (
            ValueError,
            KeyError,
            IndexError,
            AttributeError,
            InvalidAccessError,
            InvalidStateError,
            OperationError,
        ) as exc:  # aiortc's SDP parser and negotiation refuse what it cannot use
            raise OfferRejected(f"offer rejected: {exc}") from exc
        self._video_receiver = video.receiver
        tap_encoded_frames(video.receiver, self._on_video)
        if audio is not None:
            tap_encoded_frames(audio.receiver, self._on_audio)
            self.has_audio = True
        await gather_with_hosts(pc, self.ice_hosts)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        pc.on("connectionstatechange", self._on_state)
        return str(pc.localDescription.sdp)

    def start(self) -> None:
        """Begin feeding the channel (after the session was registered for its room)."""
        if self._closed or self._started:
            return
        self._started = True
        self.channel.send_keyframe_request = self.request_keyframe
        self._ticker = asyncio.create_task(self._tick())

    def request_keyframe(self) -> None:
        """Send a PLI in the background (the channel rate-limits callers)."""
        receiver = self._video_receiver
        if receiver is None or self._closed:
            return
        self.keyframe_requests += 1
        task = asyncio.create_task(self._pli(receiver))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Close the peer connection (idempotent); notifies ``on_ended`` once."""
        if self._closed:
            return
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        others = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        if others:
            await asyncio.gather(*others, return_exceptions=True)
        await self.pc.close()
        self.on_ended(self)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` started."""
        return self._closed

    def _on_video(self, data: bytes, timestamp: int) -> None:
        self.video_frames += 1
        if self._started and not self._closed:
            self.channel.on_video_frame(data, timestamp)

    def _on_audio(self, data: bytes, timestamp: int) -> None:
        self.audio_frames += 1
        if self._started and not self._closed:
            self.channel.on_audio_frame(data, timestamp)

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed") and not self._closed:
            log.info("publisher %s connection %s", self.session_id[:6], self.pc.connectionState)
            task = asyncio.create_task(self.close())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pli(self, receiver: RTCRtpReceiver) -> None:
        with contextlib.suppress(ConnectionError):
            await send_pli(receiver)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONNECT_TIMEOUT
        while True:
            await asyncio.sleep(0.5)
            if self.pc.connectionState != "connected" and deadline and loop.time() > deadline:
                log.info("publisher %s did not connect in time", self.session_id[:6])
                task = asyncio.create_task(self.close())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
            if self.pc.connectionState == "connected":
                deadline = 0.0
            self.channel.tick()
