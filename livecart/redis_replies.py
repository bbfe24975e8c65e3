"""Decoding Redis replies: redis-py hands a reply's strings over as ``bytes`` (livecart's
clients keep its default, undecoded responses) or as ``str`` (a client made with
``decode_responses``); ``text`` takes either. Pure: no I/O, no redis import.
"""

from __future__ import annotations


def text(value: object) -> str:
    """A Redis reply value as ``str``, whether the client decodes responses or not."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    raise TypeError(f"expected bytes or str from Redis, got {type(value).__name__}")
