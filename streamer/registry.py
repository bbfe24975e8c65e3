"""Who publishes where, and how fast people may try: the WHIP session rules.

Pure data and a caller-supplied clock. The adapter in :mod:`streamer.whip`
holds one :class:`SessionRegistry` per application.

Rules:

- Session ids are ``secrets.token_urlsafe(24)``: 192 random bits, so a session
  URL cannot be guessed (WHIP asks for at least 122).
- One publisher per room. An authorised ``POST`` for a room that already has a
  publisher **replaces** it: the host's token is proof enough, and a host whose
  page reloaded must not wait for the old connection's ICE timeout.
  :meth:`SessionRegistry.claim` returns the replaced session so the adapter
  closes it.
- The room goes live when its first session is claimed and ends when its last
  session is released; a replacement keeps it live.
- POST attempts are rate limited per client address with a token bucket
  (:class:`RateLimiter`); an empty bucket means 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

SESSION_ID_BYTES = 24


def new_session_id() -> str:
    """A fresh, URL-safe session id with 192 random bits."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


@dataclass(frozen=True, slots=True)
class Claim(Generic[T]):
    """Outcome of :meth:`SessionRegistry.claim`."""

    replaced: T | None
    went_live: bool


@dataclass(frozen=True, slots=True)
class Release(Generic[T]):
    """Outcome of :meth:`SessionRegistry.release`."""

    room: str
    value: T
    went_offline: bool


class SessionRegistry(Generic[T]):
    """Maps session ids and rooms to one value (the adapter's publisher)."""

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[str, T]] = {}
        self._by_room: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, session_id: str) -> T | None:
        """The value for a session id, or None."""
        entry = self._by_id.get(session_id)
        return entry[1] if entry else None

    def room_of(self, session_id: str) -> str | None:
        """The room a session publishes to, or None."""
        entry = self._by_id.get(session_id)
        return entry[0] if entry else None

    def publisher(self, room: str) -> T | None:
        """The room's current publisher, or None."""
        sid = self._by_room.get(room)
        return self._by_id[sid][1] if sid is not None else None

    def values(self) -> list[T]:
        """Every registered value."""
        return [value for _, value in self._by_id.values()]

    def claim(self, room: str, session_id: str, value: T) -> Claim[T]:
        """Make ``session_id`` the room's publisher; the old one is dropped."""
        if session_id in self._by_id:
            raise ValueError("session id already registered")
        replaced: T | None = None
        old = self._by_room.get(room)
        if old is not None:
            replaced = self._by_id.pop(old)[1]
        self._by_id[session_id] = (room, value)
        self._by_room[room] = session_id
        return Claim(replaced=replaced, went_live=old is None)

    def release(self, session_id: str) -> Release[T] | None:
        """Forget a session; None when it is unknown (or already replaced)."""
        entry = self._by_id.pop(session_id, None)
        if entry is None:
            return None
        room, value = entry
        offline = self._by_room.get(room) == session_id
        if offline:
            del self._by_room[room]
        return Release(room=room, value=value, went_offline=offline)


class RateLimiter:
    """Token buckets per key: ``burst`` attempts, refilled at ``rate`` per second."""

    def __init__(self, burst: int = 10, rate: float = 1.0, max_keys: int = 10_000) -> None:
        self.burst = burst
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float) -> float:
        """Spend one token; return 0.0 if allowed, else seconds until one is back."""
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._evict(now)
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0

    def retry_after(self, wait: float) -> int:
        """``Retry-After`` header value (whole seconds, at least 1) for a wait."""
        return max(1, math.ceil(wait))

    def _evict(self, now: float) -> None:
        full = [
            key
            for key, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate >= self.burst
        ]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]
