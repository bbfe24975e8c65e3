"""Chat rules: what a message may say and how often a viewer may speak.

All functions take the current time as an argument and keep no clock of their own, so
they are exact to test. Every refusal is a ``CommandError`` with a documented code; a
refused message changes nothing (a token is spent only when a message is accepted).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

from livecart.chat.errors import CommandError, ErrorCode
from livecart.limits import MAX_CHAT_LEN
from livecart.text import TextRefused, banned_word_pattern, contains_banned_word, normalize

# The chat limits' numbers, here alone: this node's first filter (``ChatLimits``) and
# the shared budget the store checks (``store.ChatBudget``, ``chat/lua/chat_budget.lua``,
# which gets ``BUCKET_IDLE_MS`` rendered in by ``lua_constants``) read them from here.
VIEWER_RATE = 1.0
"""Chat messages a second one viewer may send in a room, over all its sockets."""
VIEWER_BURST = 3.0
"""Messages a viewer may save up."""
ADDRESS_BURST_FACTOR = 3.0
"""A client address saves up this many seconds of its rate (``address_burst``)."""
BUCKET_IDLE_MS = 300_000
"""A shared bucket untouched this long is full again anyway: Redis drops it then."""


def clean_text(text: str) -> str:
    """Return the message normalized (``livecart.text``) and trimmed, or raise
    ``text_empty``/``text_too_long``/``text_invalid``.

    Control characters (Unicode category Cc, including newlines) and lone surrogates are
    refused, not stripped: the sender sees exactly what was wrong. Invisible format
    characters (zero-width, bidi controls) are removed by the normalization.
    """
    try:
        text = normalize(text).strip()
    except TextRefused as exc:
        raise CommandError(ErrorCode.TEXT_INVALID, f"message {exc.reason}") from exc
    if not text:
        raise CommandError(ErrorCode.TEXT_EMPTY, "message is empty")
    if len(text) > MAX_CHAT_LEN:
        raise CommandError(ErrorCode.TEXT_TOO_LONG, f"message is over {MAX_CHAT_LEN} characters")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise CommandError(ErrorCode.TEXT_INVALID, "message contains control characters")
    return text


def compile_banned_words(words: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any banned word in a message's skeleton
    (``livecart.text.banned_word_pattern``: case, accents, look-alike letters and
    invisible characters do not hide a word)."""
    return banned_word_pattern(words)


def check_banned_words(text: str, pattern: re.Pattern[str] | None) -> None:
    """Raise ``blocked_word`` when ``text`` contains a banned word."""
    if contains_banned_word(text, pattern):
        raise CommandError(ErrorCode.BLOCKED_WORD, "message contains a blocked word")


@dataclass(slots=True)
class TokenBucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved up.

    ``check`` only reads; only ``spend`` changes the bucket."""

    rate: float
    burst: float
    tokens: float = -1.0  # negative: never used, full
    stamp: float = 0.0

    def level(self, now: float) -> float:
        """The tokens available at ``now``."""
        if self.tokens < 0:
            return self.burst
        return min(self.burst, self.tokens + (now - self.stamp) * self.rate)

    def check(self, now: float, cost: float = 1.0) -> None:
        """Raise ``rate_limited`` (with ``retry_after``) if a spend of ``cost`` would fail."""
        tokens = self.level(now)
        if tokens < cost:
            raise CommandError(
                ErrorCode.RATE_LIMITED,
                "too many messages",
                retry_after=(cost - tokens) / self.rate,
            )

    def spend(self, now: float, cost: float = 1.0) -> None:
        """Check and take ``cost`` tokens."""
        self.check(now, cost)
        self.tokens, self.stamp = self.level(now) - cost, now

    def take(self, now: float, cost: float = 1.0) -> None:
        """Take ``cost`` tokens without checking, down to empty at most: the record of
        something already checked and done (another socket of the same client may have
        spent in between; that costs it nothing extra beyond an empty bucket)."""
        self.tokens, self.stamp = max(0.0, self.level(now) - cost), now

    def give_back(self, now: float, cost: float = 1.0) -> None:
        """Return ``cost`` tokens taken for something that then failed."""
        self.tokens, self.stamp = min(self.burst, self.level(now) + cost), now


@dataclass(slots=True)
class ChatLimits:
    """How often one connection may speak: its message bucket and its last message.

    The rules only read it (``check``); the hub records a message (``record``) as soon
    as the rules accepted it, before it awaits the datastore, so that commands from other
    sockets of the same viewer (or address) in flight meanwhile see it, and gives it
    back (``unrecord``) when the message is not committed: a refused or failed message
    costs nothing.

    This is one node's cheap first filter, spared a Redis round trip; what decides, over
    every node, is the same rule with the same numbers inside the store's emit
    (``chat/lua/chat_budget.lua``)."""

    bucket: TokenBucket = field(
        default_factory=lambda: TokenBucket(rate=VIEWER_RATE, burst=VIEWER_BURST)
    )
    last_sent: float | None = None

    def check(self, slow_mode: int, now: float, *, exempt_from_slow_mode: bool) -> None:
        """Raise ``slow_mode`` or ``rate_limited`` when a message now would break a limit."""
        if not exempt_from_slow_mode:
            check_slow_mode(slow_mode, self.last_sent, now)
        self.bucket.check(now)

    def record(self, now: float) -> float | None:
        """Count a message sent at ``now``; the previous ``last_sent``, for ``unrecord``."""
        previous = self.last_sent
        self.bucket.take(now)
        self.last_sent = now
        return previous

    def unrecord(self, now: float, previous: float | None) -> None:
        """Undo ``record(now)`` for a message that was not committed after all."""
        self.bucket.give_back(now)
        if self.last_sent == now:
            self.last_sent = previous


def address_burst(rate: float) -> float:
    """How many messages a client address sending ``rate`` a second may save up."""
    return max(1.0, rate * ADDRESS_BURST_FACTOR)


def address_limits(rate: float) -> ChatLimits:
    """One client address's budget over all its sockets and identities: ``rate``
    messages a second, bursts of ``address_burst(rate)`` (no slow mode of its own: slow
    mode is per viewer)."""
    return ChatLimits(TokenBucket(rate=rate, burst=address_burst(rate)))


def lua_constants() -> str:
    """The numbers the shared budget's Lua needs, as ``local`` lines for chat's prelude
    (the rates and bursts come with each message: ``store.ChatBudget``)."""
    return f"local BUCKET_IDLE_MS = {BUCKET_IDLE_MS}"


@dataclass(slots=True)
class LimitsTable:
    """Chat limits by key (a room's viewer, a room's client address), so every socket of
    one viewer (or of one address) draws on one budget.

    Bounded: past ``max_keys`` entries, those idle for ``idle`` seconds are dropped
    (their bucket is full again by then and slow mode is at most an hour), else the
    oldest half; a dropped key starts again with a full budget."""

    make: Callable[[], ChatLimits] = ChatLimits
    max_keys: int = 100_000
    idle: float = 3600.0
    _table: dict[Hashable, ChatLimits] = field(default_factory=dict)

    def get(self, key: Hashable, now: float) -> ChatLimits:
        """The limits of ``key``, made with a full budget on first use (evicting idle or old
        keys first when the table is full)."""
        found = self._table.get(key)
        if found is None:
            if len(self._table) >= self.max_keys:
                self._evict(now)
            found = self._table[key] = self.make()
        return found

    def __len__(self) -> int:
        return len(self._table)

    def _evict(self, now: float) -> None:
        table = self._table
        idle = [k for k, v in table.items() if v.last_sent is None or now - v.last_sent > self.idle]
        for key in idle or list(table)[: len(table) // 2]:
            del table[key]


def check_slow_mode(slow_mode: int, last_sent: float | None, now: float) -> None:
    """Raise ``slow_mode`` when the viewer spoke less than ``slow_mode`` seconds ago."""
    if slow_mode > 0 and last_sent is not None and now - last_sent < slow_mode:
        raise CommandError(
            ErrorCode.SLOW_MODE, "slow mode is on", retry_after=slow_mode - (now - last_sent)
        )
