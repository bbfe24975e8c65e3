"""Redis key names. Every key of one room starts with ``lc:{<room>}:`` so that all of them
share one hash slot: a Lua script touches one room and works unchanged on Redis Cluster.

The Lua scripts build the same names from the prefix they get as ``KEYS[1]``
(``lc:{<room>}``); this module is the Python side of that layout and
docs/checkout.md is its description. The only key outside a room is ``ROOMS``, written by
plain commands, never by a script.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOMS = "lc:checkout:rooms"  # zset: room -> last time a hold was taken there (ms)


@dataclass(frozen=True, slots=True)
class RoomKeys:
    room: str

    @property
    def prefix(self) -> str:
        """``KEYS[1]`` of every script."""
        return f"lc:{{{self.room}}}"

    def _k(self, suffix: str) -> str:
        return f"{self.prefix}:{suffix}"

    def stock(self, product_id: str) -> str:
        return self._k(f"stock:{product_id}")

    def sale(self, product_id: str) -> str:
        return self._k(f"sale:{product_id}")

    def buyers(self, product_id: str) -> str:
        return self._k(f"buyers:{product_id}")

    def hold(self, reservation_id: str) -> str:
        return self._k(f"hold:{reservation_id}")

    def buy_key(self, key: str) -> str:
        return self._k(f"idem:buy:{key}")

    def pay_key(self, key: str) -> str:
        return self._k(f"idem:pay:{key}")

    @property
    def products(self) -> str:
        return self._k("products")

    @property
    def sales(self) -> str:
        return self._k("sales")

    @property
    def holds(self) -> str:
        return self._k("holds")

    @property
    def refunds(self) -> str:
        return self._k("refunds")

    @property
    def unsettled(self) -> str:
        return self._k("unsettled")

    @property
    def orders(self) -> str:
        return self._k("orders")

    @property
    def meta(self) -> str:
        return self._k("meta")

    @property
    def figures(self) -> str:
        return self._k("figures")

    @property
    def fulfilment(self) -> str:
        return self._k("fulfilment")
