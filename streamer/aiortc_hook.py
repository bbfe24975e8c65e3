"""The one place that reaches into aiortc internals (aiortc pinned to 1.16.0).

aiortc's ``RTCRtpReceiver`` reassembles RTP packets into complete encoded
frames (jitter buffer + H.264 depayloading to Annex B) and then puts
``(codec, JitterFrame)`` on a private ``queue.Queue`` read by a decoder thread.
There is no public way to get the encoded frames, and decoding is exactly what
we must not pay for. So, before the receiver starts, :func:`tap_encoded_frames`
swaps that queue for a :class:`_TapQueue` that hands every encoded frame to our
callback on the event loop and passes only the ``None`` stop signal on to the
decoder thread. The thread is still started by aiortc but never sees a frame,
so it never creates a decoder.

Also here: sending a PLI (``RTCRtpReceiver._send_rtcp_pli``), finding the media
SSRC, and adding ICE host candidates (aioice leaves out 127.0.0.1).

:func:`check_aiortc` verifies every internal this module touches; it runs when
the app starts and in ``tests/node/test_streamer_aiortc_hook.py``, so an aiortc
upgrade that moves them fails loudly instead of silently decoding or dropping
video.
"""

from __future__ import annotations

import inspect
import queue
from collections.abc import Callable, Sequence
from typing import Any

import aiortc
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc import rtcrtpreceiver as _receiver_module

from livecart.streamer.errors import HookBroken

PINNED_AIORTC = "1.16.0"

FrameSink = Callable[[bytes, int], None]
"""Called with ``(encoded frame, RTP timestamp mapped to start at 0)``."""

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_THREAD_ATTR = "_RTCRtpReceiver__decoder_thread"
_RTX_ATTR = "_RTCRtpReceiver__rtx_ssrc"
_STARTED_ATTR = "_RTCRtpReceiver__started"


class _TapQueue(queue.Queue[Any]):
    """Stands in for the receiver's decoder queue.

    ``put((codec, frame))`` comes from ``RTCRtpReceiver._handle_rtp_packet`` on
    the event loop; the frame goes to the sink. ``put(None)`` (stop) reaches the
    idle decoder thread so it exits as usual.
    """

    def __init__(self, sink: FrameSink) -> None:
        super().__init__()
        self.sink = sink
        self.frames = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None, block, timeout)
            return
        _codec, frame = item
        self.frames += 1
        self.sink(frame.data, frame.timestamp)


def check_aiortc() -> None:
    """Raise :class:`HookBroken` unless aiortc's internals are the ones we hook."""
    problems: list[str] = []
    if aiortc.__version__ != PINNED_AIORTC:
        problems.append(f"aiortc {aiortc.__version__} is not the pinned {PINNED_AIORTC}")
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    if "self.__decoder_queue.put((codec, encoded_frame))" not in handle:
        problems.append("_handle_rtp_packet no longer puts (codec, frame) on __decoder_queue")
    if "encoded_frame.timestamp = self.__timestamp_mapper.map(" not in handle:
        problems.append("_handle_rtp_packet no longer maps timestamps before queueing")
    init = inspect.getsource(RTCRtpReceiver.__init__)
    for attr in ("__decoder_queue", "__decoder_thread", "__rtx_ssrc", "__started"):
        if f"self.{attr}" not in init:
            problems.append(f"RTCRtpReceiver.__init__ no longer sets {attr}")
    receive = inspect.getsource(RTCRtpReceiver.receive)
    if "self.__decoder_queue" not in receive:
        problems.append("receive() no longer hands __decoder_queue to the decoder thread")
    worker = inspect.getsource(_receiver_module.decoder_worker)
    if "if task is None" not in worker:
        problems.append("decoder_worker no longer stops on None")
    if not callable(getattr(RTCRtpReceiver, "_send_rtcp_pli", None)):
        problems.append("RTCRtpReceiver._send_rtcp_pli is gone")
    if problems:
        raise HookBroken("; ".join(problems))


def tap_encoded_frames(receiver: RTCRtpReceiver, sink: FrameSink) -> _TapQueue:
    """Route a receiver's complete encoded frames to ``sink`` instead of its decoder.

    Must be called before the receiver starts (after ``setRemoteDescription``,
    before the connection is established). Video frames are Annex B access
    units with 90 kHz timestamps; audio (Opus) frames are raw packets at 48 kHz.
    Returns the tap, whose ``frames`` counts what went through it.
    """
    if getattr(receiver, _STARTED_ATTR, None) is not False:
        raise HookBroken("receiver already started or has no __started flag")
    if getattr(receiver, _THREAD_ATTR, "missing") is not None:
        raise HookBroken("receiver decoder thread attribute changed")
    if not isinstance(getattr(receiver, _QUEUE_ATTR, None), queue.Queue):
        raise HookBroken("receiver has no __decoder_queue")
    tap = _TapQueue(sink)
    setattr(receiver, _QUEUE_ATTR, tap)
    return tap


def media_ssrcs(receiver: RTCRtpReceiver) -> list[int]:
    """SSRCs seen recently by the receiver, retransmission (RTX) streams excluded."""
    rtx = set(getattr(receiver, _RTX_ATTR, {}))
    return [s.source for s in receiver.getSynchronizationSources() if s.source not in rtx]


async def send_pli(receiver: RTCRtpReceiver) -> bool:
    """Ask the sender for a keyframe (RTCP PLI); False if no media SSRC is known yet."""
    sent = False
    for ssrc in media_ssrcs(receiver):
        await receiver._send_rtcp_pli(ssrc)
        sent = True
    return sent


async def gather_with_hosts(pc: RTCPeerConnection, hosts: Sequence[str]) -> None:
    """Gather ICE candidates now, adding host candidates on ``hosts``.

    Call after ``setRemoteDescription`` and before ``createAnswer``; aiortc then
    finds gathering complete and puts these candidates in the answer.
    """
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        gatherer = transceiver.receiver.transport.transport.iceGatherer
        if id(gatherer) in seen:
            continue
        seen.add(id(gatherer))
        connection = gatherer._connection
        extra = []
        if hosts:
            extra = await connection.get_component_candidates(component=1, addresses=list(hosts))
        await gatherer.gather()
        connection._local_candidates += extra
