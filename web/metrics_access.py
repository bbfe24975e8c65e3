"""Who may read ``GET /metrics``: the operator, not the audience.

The counters tell how many viewers, orders and sockets a node has; a shop may not want
the world to read them. ``MetricsAccess.allows(address, token, admin)`` lets through:

- a request carrying the admin token (``Authorization: Bearer <token>``; Prometheus'
  ``authorization`` setting sends it), from anywhere;
- a client whose address is in ``--metrics-allow`` (``LIVECART_METRICS_ALLOW``):
  comma-separated CIDRs, by default ``127.0.0.0/8,::1`` (this machine only); ``*``
  opens ``/metrics`` to anyone, ``none`` to the token alone.

The address is the one every per-address rule uses (``livecart.connections``):
``X-Forwarded-For`` counts only from ``--trusted-proxies``. A proxy on the same machine
that is not listed there makes every client look local: list it, or keep ``/metrics``
off the proxy. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from livecart.addresses import Network, parse_networks
from livecart.web.auth import is_admin

ANYONE = "*"
NOBODY = "none"


@dataclass(frozen=True)
class MetricsAccess:
    """Who may read ``/metrics`` without the admin token: clients in ``networks``, or
    anyone. Frozen; parsed from ``--metrics-allow``."""

    networks: tuple[Network, ...] = ()
    anyone: bool = False

    @classmethod
    def parse(cls, spec: Iterable[str]) -> MetricsAccess:
        """From ``--metrics-allow``'s items: CIDRs or addresses, ``*`` or ``none``.
        Raises ``ValueError`` naming the first item that is none of these."""
        items = [item.strip() for item in spec if item.strip()]
        if ANYONE in items:
            return cls(anyone=True)
        return cls(parse_networks([i for i in items if i.lower() != NOBODY]))

    def allows(self, address: str, token: str | None, admin: str) -> bool:
        """Whether a client at ``address`` (canonical, as ``livecart.addresses`` gives
        it) presenting ``token`` may read ``/metrics``; ``admin`` is the admin token."""
        if self.anyone or is_admin(token, admin):
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False  # no address known (a Unix socket, a test double): token only
        return any(ip in net for net in self.networks)
