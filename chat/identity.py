"""Viewer identities: a random id and an HMAC so a client cannot pick someone else's.

A token is ``<vid>.<sig>``; ``vid`` starts with ``v``. ``verify`` returns the vid of a
genuine token and None otherwise, in constant time. Pure; the secret is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def _sign(secret: bytes, vid: str) -> str:
    return hmac.new(secret, vid.encode(), hashlib.sha256).hexdigest()[:32]


def issue(secret: bytes) -> tuple[str, str]:
    """A new (vid, token) pair."""
    vid = "v" + secrets.token_urlsafe(12)
    return vid, f"{vid}.{_sign(secret, vid)}"


def verify(secret: bytes, token: str | None) -> str | None:
    """The vid inside a genuine token, else None (any text at all: a non-ASCII token is
    refused before ``hmac.compare_digest``, which raises on non-ASCII ``str``)."""
    if not token or token.count(".") != 1 or len(token) > 120 or not token.isascii():
        return None
    vid, sig = token.split(".")
    if not vid.startswith("v") or not hmac.compare_digest(sig, _sign(secret, vid)):
        return None
    return vid


def hash_token(token: str) -> str:
    """What we store of a host token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()
