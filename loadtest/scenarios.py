"""What simulated viewers do in each scenario, and who does what: plain data, no I/O.

A scenario is a :class:`Behaviour` (rates for the whole room, shares of viewers);
:func:`assign` turns it into one :class:`ViewerSpec` per viewer (its role flags, when it
joins, when it presses "buy"), seeded so that a run can be repeated; :func:`split`
deals the viewers to client processes so that each gets the same mix and the same
spread over the ramp.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, replace

SAMPLE, CHATTER, TAPPER, BUYER, PAYER = 1, 2, 4, 8, 16

SCENARIOS = ("watch", "chat", "hearts", "flash-sale", "join-storm", "video", "mixed")

# Seconds between two chat messages of one viewer: under the server's 1 a second.
CHAT_GAP = 1.25
HEART_GAP = 1.0  # seconds between two heart commands of one viewer
MAX_TAPS = 50  # heart taps in one command
# Senders to spare: a rate needs this many times the viewers who could just make it,
# so that a sender's turn coming a period late never leaves a message due unsent.
PACE_SLACK = 1.2
# Seconds after the ramp before the plan counts what is due: the last joiners'
# handshakes (and a join storm's) take a moment.
JOIN_GRACE = 2.0
BUY_WINDOW = 1.0  # buyers press within this many seconds of the sale opening


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What a scenario's viewers do, room-wide: the rates of chat, hearts and "explain this",
    the shares of tappers, buyers and payers, whether a flash sale, video or a join storm
    is part of it, and the default ramp (``SCENARIOS_BEHAVIOUR`` names them)."""

    chat_rate: float = 0.0  # chat messages a second offered, whole room
    heart_rate: float = 0.0  # heart taps a second, whole room
    tappers: float = 0.0  # share of viewers who tap hearts
    explain_rate: float = 0.0  # "explain this" taps a second, whole room
    sale: bool = False  # a flash sale during the run
    sale_at: float = 0.0  # when it opens: share of the steady phase after the ramp
    buyers: float = 0.0  # share of viewers who press "buy" within BUY_WINDOW
    pay: float = 0.7  # share of those holding units who pay (the others abandon)
    video: bool = False  # every viewer also opens the low-latency video socket
    storm: bool = False  # everyone joins at once; half of them rejoin at mid-run
    ramp: float = 10.0  # default --ramp, seconds


SCENARIOS_BEHAVIOUR: dict[str, Behaviour] = {
    "watch": Behaviour(chat_rate=10),
    "chat": Behaviour(chat_rate=200),
    "hearts": Behaviour(chat_rate=10, heart_rate=2000, tappers=0.3),
    "flash-sale": Behaviour(chat_rate=10, sale=True, buyers=1.0, pay=0.7, ramp=5),
    "join-storm": Behaviour(chat_rate=10, storm=True, ramp=0),
    "video": Behaviour(chat_rate=10, video=True),
    "mixed": Behaviour(
        chat_rate=50,
        heart_rate=500,
        tappers=0.1,
        explain_rate=2,
        sale=True,
        sale_at=0.4,
        buyers=0.2,
        pay=0.7,
    ),
}


def behaviour(name: str, **overrides: float | None) -> Behaviour:
    """The scenario's defaults with the given fields replaced (``None`` keeps one)."""
    base = SCENARIOS_BEHAVIOUR[name]
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **changes)  # type: ignore[arg-type]


_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min)?\s*$")


def seconds(text: str) -> float:
    """``"30s"``, ``"500ms"``, ``"2m"`` or ``"45"`` -> seconds."""
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"{text!r}: expected a duration like 30s, 500ms or 2m")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "ms" else value * 60 if unit in ("m", "min") else value


@dataclass(frozen=True, slots=True)
class ViewerSpec:
    """One viewer of the room as ``assign`` drew it: its ``index``, its roles (``flags``:
    ``SAMPLE``, ``CHATTER``, ``TAPPER``, ``BUYER``, ``PAYER``), when it joins and, for a
    buyer, when it presses "buy"."""

    index: int
    flags: int
    join_at: float  # seconds after the start
    buy_at: float  # seconds after the sale opens (buyers only)


def sample_count(viewers: int, requested: int | None) -> int:
    """Sample viewers: as asked, else 4 % of the room between 10 and 200."""
    if requested is not None:
        return max(0, min(viewers, requested))
    return min(viewers, max(10, min(200, viewers // 25)))


def chatters_needed(chat_rate: float, viewers: int) -> int:
    """Viewers who chat: enough to offer ``chat_rate`` with :data:`PACE_SLACK` to spare."""
    return min(viewers, math.ceil(chat_rate * CHAT_GAP * PACE_SLACK))


def taps_per_command(heart_rate: float, tappers: int) -> int:
    """Heart taps in one command: each tapper sends about one a second."""
    if tappers <= 0:
        return 0
    return max(1, min(MAX_TAPS, math.ceil(heart_rate * HEART_GAP * PACE_SLACK / tappers)))


def offered(b: Behaviour, viewers: int) -> tuple[Behaviour, list[str]]:
    """The behaviour ``viewers`` can offer: a chat or heart rate too high for so few
    viewers (each chats at most once per :data:`CHAT_GAP`, taps at most
    :data:`MAX_TAPS` a second) comes down to what they can do, with a note saying so.
    The run's plan, and its verdict, hold it to the rates returned."""
    notes: list[str] = []
    chat_max = math.floor(viewers / (CHAT_GAP * PACE_SLACK))
    if b.chat_rate > chat_max:
        notes.append(
            f"chat at {chat_max} messages/s, not {b.chat_rate:g}: {viewers} viewers chat at "
            f"most once per {CHAT_GAP} s each (more viewers, or a lower --chat-rate)"
        )
        b = replace(b, chat_rate=float(chat_max))
    tappers = min(viewers, round(b.tappers * viewers))
    heart_max = math.floor(tappers * MAX_TAPS / (HEART_GAP * PACE_SLACK))
    if b.heart_rate > heart_max:
        notes.append(
            f"hearts at {heart_max} taps/s, not {b.heart_rate:g}: {tappers} tappers send at "
            f"most {MAX_TAPS} taps a second each (more viewers, or a lower --heart-rate)"
        )
        b = replace(b, heart_rate=float(heart_max))
    return b, notes


def assign(
    viewers: int, b: Behaviour, *, samples: int, ramp: float, seed: int = 1
) -> list[ViewerSpec]:
    """One spec per viewer. Samples are spread evenly over the join order; the other
    roles are drawn at random (seeded); a share may hold several roles."""
    rng = random.Random(seed)
    flags = [0] * viewers
    if samples:
        step = viewers / samples
        for k in range(samples):
            flags[int(k * step)] |= SAMPLE
    everyone = range(viewers)
    for i in rng.sample(everyone, chatters_needed(b.chat_rate, viewers)):
        flags[i] |= CHATTER
    for i in rng.sample(everyone, min(viewers, round(b.tappers * viewers))):
        flags[i] |= TAPPER
    if b.sale:
        buyers = rng.sample(everyone, min(viewers, round(b.buyers * viewers)))
        for i in buyers:
            flags[i] |= BUYER
        for i in buyers[: round(b.pay * len(buyers))]:
            flags[i] |= PAYER
    join = 0.0 if b.storm else ramp
    return [
        ViewerSpec(
            i,
            flags[i],
            join * i / viewers,
            rng.uniform(0, BUY_WINDOW) if flags[i] & BUYER else 0.0,
        )
        for i in everyone
    ]


def split(specs: list[ViewerSpec], procs: int) -> list[list[ViewerSpec]]:
    """Deal viewers round-robin: every process gets the same mix over the ramp."""
    return [specs[k::procs] for k in range(procs)]


@dataclass(frozen=True, slots=True)
class Timeline:
    """When things happen, in seconds after the start."""

    ramp: float
    duration: float
    sale_open: float | None
    storm_at: float | None

    @property
    def end(self) -> float:
        """Seconds after the start when the run ends: the ramp, then the steady phase."""
        return self.ramp + self.duration


def timeline(b: Behaviour, ramp: float, duration: float) -> Timeline:
    """The sale opens ``sale_at`` into the steady phase, but at least 2 s after the ramp
    (late joiners) and early enough to leave 6 s for paying; a storm's rejoin wave
    comes at mid-run."""
    ramp = 0.0 if b.storm else ramp
    sale = None
    if b.sale:
        sale = ramp + max(2.0, b.sale_at * duration)
        sale = max(min(sale, ramp + duration - 6.0), min(2.0, ramp + duration))
    storm = ramp + duration / 2 if b.storm else None
    return Timeline(ramp, duration, sale, storm)
