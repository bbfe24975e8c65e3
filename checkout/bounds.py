"""What an anonymous client can make checkout keep in Redis, and for how long.

Every key a buy can create is bounded by count, size and time (docs/checkout.md,
"Bounded state"; docs/security.md):

- a refused buy (``sale_not_open``, ``limit_reached``, ``too_many_holds``, ``sold_out``)
  is remembered in the room's ``refused`` hash for ``REFUSAL_KEEP_MS`` and at most
  ``REFUSALS_PER_ROOM`` of them per room (the oldest go first), one entry of at most
  ~400 bytes each: a retry with the same key within that window gets the same answer;
  after it the key is decided afresh, which is safe because a refusal changed nothing;
- a hold exists only for units that exist (stock bounds the holds alive at once), an
  anonymous address holds at most ``holds_per_address`` of a sale's units unpaid at once,
  and a hold that ended without any payment attempt, with its buy key, is dropped
  ``UNPAID_KEEP_MS`` after it ended (paid, refunded or unsettled ones stay 24 h);
- under the ``first_paid`` policy at most ``MAX_PENDING_PER_SALE`` unpaid purchases wait
  per sale.

Pure constants; the Lua prelude is rendered with them (``checkout.scripts``).
"""

from __future__ import annotations

REFUSAL_KEEP_MS = 5 * 60 * 1000
REFUSALS_PER_ROOM = 10_000
UNPAID_KEEP_MS = 60 * 60 * 1000
MAX_PENDING_PER_SALE = 10_000

DEFAULT_HOLDS_PER_ADDRESS = 3
MAX_HOLDS_PER_ADDRESS = 1000

POLICIES = ("hold", "first_paid")
"""``hold``: a buy takes the units until it is paid or its hold ends. ``first_paid``: a
buy takes nothing; the units go to whoever pays first."""


def lua_constants() -> str:
    """The constants as Lua ``local`` lines for the script prelude."""
    values = {
        "REFUSAL_KEEP_MS": REFUSAL_KEEP_MS,
        "REFUSALS_PER_ROOM": REFUSALS_PER_ROOM,
        "UNPAID_KEEP_MS": UNPAID_KEEP_MS,
        "MAX_PENDING_PER_SALE": MAX_PENDING_PER_SALE,
    }
    return "\n".join(f"local {name} = {value}" for name, value in values.items())
