"""One simulated shopper's purchase: press "buy", maybe pay, as a state machine over data.

No I/O and no clock: the worker feeds replies, time-outs and "now" in and gets back what
to send next and when. Retries keep the idempotency key (docs/checkout.md): ``buy``
after ``unavailable`` or ``rate_limited`` (or no reply), ``pay`` after those and
``in_progress``. ``sale_not_open`` with a countdown is answered like a person would: a
new tap (a new key) when it opens. Every key ends in exactly one outcome.

```
 waiting --press--> buying --reserved--> holding --think--> paying --order--> ordered
                      |  \\--refused (sold_out, limit_reached, ...)--> refused
                      |                     \\--no payer--> abandoned     \\--> pay_failed
                      \\--retries exhausted--> unresolved
```
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

# Buy replies that settle the key: business outcomes, not errors.
REFUSALS = frozenset({"sold_out", "limit_reached", "sale_not_open"})
# Definite but wrong: the tester's fault or the server's (reported as errors).
FAILURES = frozenset(
    {"key_reused", "not_found", "bad_args", "forbidden", "internal", "bad_command", "bad_frame"}
)
RETRY_BUY = frozenset({"unavailable", "rate_limited"})
RETRY_PAY = frozenset({"unavailable", "rate_limited", "in_progress"})

# History entries that are not a buy reply (the others are: "reserved" or an error code).
STATE_EVENTS = frozenset(
    {"retry", "ordered", "abandoned", "pay_failed", "unresolved", "refused", "failed"}
)

MAX_ATTEMPTS = 8  # per key
RETRY_FOR = 20.0  # seconds after the first press a key is still retried
REPLY_TIMEOUT = 10.0  # seconds without a reply before the same key is sent again
CARD = "4242424242424242"  # the sandbox's approving test card


def new_key() -> str:
    return secrets.token_urlsafe(12)  # 16 characters of [A-Za-z0-9_-]


@dataclass(frozen=True, slots=True)
class Send:
    """What to do in ``delay`` seconds: send ``command`` (``kind`` "buy" or "pay"), or
    press "buy" again with a new key (``kind`` "press", no command)."""

    kind: str
    delay: float
    command: dict[str, Any] | None = None


@dataclass
class Purchase:
    """One buyer's purchase, as the state machine of the module docstring: its ``state``, the
    keys of its buy and its pay, the timings and attempts behind the report's figures, and
    its ``history`` of (time, outcome)."""

    viewer: int
    product_id: str
    payer: bool
    think: float  # seconds between the hold and "pay"
    qty: int = 1
    state: str = "waiting"
    key: str = field(default_factory=new_key)
    pay_key: str = field(default_factory=new_key)
    pressed_at: float | None = None  # first press of the current key
    replied_at: float | None = None  # definite buy reply of the current key
    attempts: int = 0
    pay_attempts: int = 0
    presses: int = 0  # keys used (a countdown refusal leads to a second tap)
    definite_keys: int = 0  # keys that got a definite buy reply
    pay_started: float | None = None
    outcome: str | None = None  # reply code of the buy: "reserved" or an error code
    reservation_id: str | None = None
    order_id: str | None = None
    pay_outcome: str | None = None
    retries: int = 0
    sent_at: float = 0.0
    history: list[tuple[float, str]] = field(default_factory=list)  # (time, outcome)

    @property
    def waiting_reply(self) -> bool:
        """True while a ``buy`` or ``pay`` is out without a definite reply."""
        return self.state in ("buying", "paying")

    @property
    def done(self) -> bool:
        """True once the purchase has its final state (ordered, refused, abandoned, paid and
        failed, unresolved or failed)."""
        return self.state in (
            "ordered",
            "refused",
            "abandoned",
            "pay_failed",
            "unresolved",
            "failed",
        )

    def buy_command(self) -> dict[str, Any]:
        """The ``buy`` frame for the current key (the same on every retry)."""
        return {"cmd": "buy", "product_id": self.product_id, "qty": self.qty, "key": self.key}

    def pay_command(self) -> dict[str, Any]:
        """The ``pay`` frame for the reservation held, with the test card and the pay key."""
        return {
            "cmd": "pay",
            "reservation_id": self.reservation_id,
            "card": CARD,
            "key": self.pay_key,
        }

    def press(self, now: float) -> Send:
        """The first tap on "buy" with the current key: ``waiting`` -> ``buying``; returns
        the ``buy`` to send now. Only in ``waiting`` (``AssertionError`` otherwise)."""
        assert self.state == "waiting", self.state
        self.state = "buying"
        self.presses += 1
        self.pressed_at = now
        self.attempts = 1
        self.sent_at = now
        return Send("buy", 0.0, self.buy_command())

    def _retry(self, now: float, retry_after: float | None, paying: bool) -> Send | None:
        attempts = self.pay_attempts if paying else self.attempts
        started = (self.pay_started if paying else self.pressed_at) or now
        if attempts >= MAX_ATTEMPTS or now - started > RETRY_FOR:
            self._end(now, "unresolved")
            return None
        self.retries += 1
        self.history.append((now, "retry"))
        delay = retry_after if retry_after else min(2.0, 0.1 * 2 ** (attempts - 1))
        if paying:
            self.pay_attempts += 1
            return Send("pay", delay, self.pay_command())
        self.attempts += 1
        return Send("buy", delay, self.buy_command())

    def _end(self, now: float, state: str) -> None:
        self.state = state
        self.history.append((now, state))

    def on_reply(self, frame: dict[str, Any], now: float) -> Send | None:
        """The reply to the command last sent; returns the next command, if any."""
        ok = bool(frame.get("ok"))
        error = frame.get("error") or {}
        code = "ok" if ok else str(error.get("code", "?"))
        retry_after = error.get("retry_after")
        if self.state == "buying":
            if ok:
                self.outcome = "reserved"
                self.replied_at = now
                self.definite_keys += 1
                self.reservation_id = frame["data"]["reservation"]["id"]
                self.history.append((now, "reserved"))
                if not self.payer:
                    self._end(now, "abandoned")
                    return None
                self.state = "paying"
                self.pay_attempts = 1
                self.pay_started = now + self.think
                return Send("pay", self.think, self.pay_command())
            if code in RETRY_BUY:
                return self._retry(now, retry_after, paying=False)
            self.outcome = code
            self.replied_at = now
            self.definite_keys += 1
            self.history.append((now, code))
            if code == "sale_not_open" and retry_after and self.presses < 3:
                # A countdown: tap again when it opens, as a person would (a new key).
                self.key = new_key()
                self.state = "waiting"
                return Send("press", float(retry_after) + 0.01)
            self._end(now, "refused" if code in REFUSALS else "failed")
            return None
        if self.state == "paying":
            if ok:
                self.order_id = frame["data"]["order"]["id"]
                self.pay_outcome = "ordered"
                self._end(now, "ordered")
                return None
            if code in RETRY_PAY:
                return self._retry(now, retry_after, paying=True)
            self.pay_outcome = code
            self._end(now, "pay_failed")
            return None
        return None  # a late duplicate reply: the key already has its outcome

    def on_timeout(self, now: float) -> Send | None:
        """No reply within REPLY_TIMEOUT: send the same key again (idempotent)."""
        if not self.waiting_reply:
            return None
        return self._retry(now, None, paying=self.state == "paying")

    def give_up(self, now: float) -> None:
        """The run is over: a key still without a definite reply is unresolved."""
        if self.state == "buying":
            self._end(now, "unresolved")
        elif self.state == "waiting" and self.presses:
            self._end(now, "refused")  # its last key was refused with a countdown
        elif self.state == "paying":
            self.pay_outcome = "unfinished"
            self._end(now, "pay_failed")

    @property
    def reply_ms(self) -> float | None:
        """Milliseconds from the first press of the current key to its definite ``buy`` reply
        (None until then)."""
        if self.pressed_at is None or self.replied_at is None:
            return None
        return (self.replied_at - self.pressed_at) * 1000
