"""Webhook signatures by the Standard Webhooks spec (standardwebhooks.com), both sides.

Every delivery carries three headers:

- ``webhook-id``: the message's id, the same on every retry of that message (a receiver
  that has seen it may drop it);
- ``webhook-timestamp``: when this attempt was signed, integer seconds since the Unix
  epoch;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``
  (space-separated, should more signatures follow, e.g. during a secret rotation).

The key is the shop's secret: ``whsec_<base64>`` is the spec's form (the key is the
decoded bytes, as the ``standardwebhooks`` libraries read it); any other secret is taken
as its UTF-8 bytes (a receiver using a library passes it as ``whsec_`` + base64 of it).

``verify`` is what a receiver does: the signature must match and the timestamp lie within
``TOLERANCE`` seconds of the receiver's clock, so a captured delivery cannot be replayed
later. Pure: the time comes in as an argument; no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
TOLERANCE = 5 * 60  # seconds, the spec's default


class SignatureRefused(ValueError):
    """A delivery that does not verify; the message says which check failed."""


def signing_key(secret: str | bytes) -> bytes:
    """The HMAC key of a configured secret (``whsec_<base64>`` or anything else as its
    bytes). Raises ``ValueError`` for a ``whsec_`` secret that is not base64."""
    raw = secret.decode() if isinstance(secret, bytes) else secret
    if raw.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(raw[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error as exc:
            raise ValueError("a whsec_ secret must be base64") from exc
    return raw.encode()


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{msg_id}.{timestamp}.{body}``."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one signed attempt."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(key, msg_id, timestamp, body),
    }


def verify(
    key: bytes, received: Mapping[str, str], body: bytes, now: float, tolerance: int = TOLERANCE
) -> None:
    """Check a delivery as a receiver does; raises ``SignatureRefused``. ``received``
    maps header names (lowercase, as above) to values."""
    msg_id = received.get(ID_HEADER)
    stamp = received.get(TIMESTAMP_HEADER, "")
    offered = received.get(SIGNATURE_HEADER, "")
    if not msg_id or not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise SignatureRefused("missing or malformed webhook-id / webhook-timestamp")
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance:
        raise SignatureRefused("webhook-timestamp is outside the tolerance: a replay?")
    expected = signature(key, msg_id, timestamp, body).encode()
    for candidate in offered.split():
        if hmac.compare_digest(candidate.encode("utf-8", "surrogateescape"), expected):
            return
    raise SignatureRefused("no matching v1 signature")
