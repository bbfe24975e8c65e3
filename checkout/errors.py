"""Every exception the checkout package raises, in one tree.

::

    Exception
    └── CheckoutException            the root: every error checkout defines derives
        │                            from it, so ``except CheckoutException`` catches
        │                            them all
        ├── CheckoutError            a client-facing refusal; ``code`` is one of CODES
        ├── IllegalTransition        a reservation was asked to make a move its life
        │                            cycle forbids: a bug in the caller, never shown
        │                            to a client
        └── ProviderError            a payment provider reports that the charge or
            │                        refund did not happen (no money moved)
            └── ProviderTimeout      the provider did not answer in time

Only ``CheckoutError`` leaves the service's public methods; provider errors are turned
into ``payment_declined`` / ``payment_timeout`` refusals (or retried later, for a
refund) and an ``IllegalTransition`` is a bug. Outside the tree, and bugs as well:
``ValueError`` for bad constructor arguments or an unknown error code, ``TypeError``
for a malformed Redis reply, and redis-py's ``ResponseError`` for a failing script.

``CheckoutError`` codes (the hub copies ``code``, ``message`` and ``retry_after`` into the
reply frame unchanged; docs/checkout.md lists when each is returned):

====================  ======================================================================
``bad_args``          a field is missing, of the wrong type or out of range; ``message``
                      starts with the field's name
``not_found``         no such room product, sale or reservation
``sale_not_open``     the product has no sale, or it is scheduled for later (with
                      ``retry_after``: seconds until it opens), or closed
``sold_out``          fewer units left than asked for
``limit_reached``     this buyer's holds and orders for the product would pass the limit
``too_many_holds``    the client's address already has the most unpaid purchases a sale
                      allows it (anonymous buyers), or a ``first_paid`` sale has the most
                      unpaid purchases waiting that it keeps
``key_reused``        the idempotency key was used before with different parameters
``in_progress``       the same key, or another payment of the same reservation, is still
                      running; retry after ``retry_after``
``hold_expired``      the reservation is no longer held (expired, released or refunded)
``payment_declined``  the provider declined the card; the hold was released
``payment_timeout``   the provider did not answer in time; the hold was released
``forbidden``         e.g. paying someone else's reservation
``unavailable``       Redis could not be reached; retry with the same key, which resolves
                      to exactly one outcome
``auction_running``   the room has an auction running (or its winner being charged)
``auction_closed``    the auction has ended (by Redis' clock) or was cancelled
``bid_too_low``       the max bid is under the next bid, or the leader did not raise
``has_bids``          an auction with a bid cannot be cancelled
``giveaway_running``  the room has a giveaway open
====================  ======================================================================
"""

from __future__ import annotations

from typing import Any

CODES: frozenset[str] = frozenset(
    {
        "bad_args",
        "not_found",
        "sale_not_open",
        "sold_out",
        "limit_reached",
        "too_many_holds",
        "key_reused",
        "in_progress",
        "hold_expired",
        "payment_declined",
        "payment_timeout",
        "forbidden",
        "unavailable",
        "auction_running",
        "auction_closed",
        "bid_too_low",
        "has_bids",
        "giveaway_running",
    }
)


class CheckoutException(Exception):
    """The root of checkout's errors; raised only through its subclasses."""


class CheckoutError(CheckoutException):
    """A refusal with a documented ``code``. Nothing was changed by the refused call,
    except that an idempotency key may now remember this refusal (see docs/checkout.md).

    Raises ``ValueError`` at construction for a code outside ``CODES``: an unknown code
    is a bug here, not something to send to a client.
    """

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        if code not in CODES:
            raise ValueError(f"unknown checkout error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of a reply frame (``retry_after`` only when set)."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out


class IllegalTransition(CheckoutException):
    """A reservation in ``state`` cannot take ``event``; see ``checkout.lifecycle``."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"a reservation in state {state!r} cannot take event {event!r}")
        self.state = state
        self.event = event


class ProviderError(CheckoutException):
    """Raised by a ``PaymentProvider`` when it is certain that no money moved."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within its timeout.

    An adapter raises this only after making sure the attempt cannot capture later
    (for instance by voiding it by its idempotency key); see ``checkout.payments``.
    """
