"""The streamer's one error tree.

::

    StreamerError
    ├── BitstreamError      malformed H.264 from a publisher (frame dropped, logged)
    ├── OfferRejected       a WHIP offer we cannot take (HTTP 400)
    │   └── NoH264Video     the offer has no H.264 video m-line (HTTP 400)
    └── HookBroken          aiortc internals differ from the pinned version (a bug:
                            the publish fails with HTTP 500 and is logged)

Client mistakes map to the documented HTTP statuses in ``streamer/app.py``; anything
else is our bug.
"""

from __future__ import annotations


class StreamerError(Exception):
    """Base of every error raised by the streamer package."""


class BitstreamError(StreamerError):
    """The encoded video does not parse as the H.264 we expect."""


class OfferRejected(StreamerError):
    """The SDP offer is malformed or unusable; the reason is safe to show the client."""


class NoH264Video(OfferRejected):
    """The offer carries no video m-line that offers H.264."""


class HookBroken(StreamerError):
    """aiortc's receiver internals are not what :mod:`streamer.aiortc_hook` expects."""
