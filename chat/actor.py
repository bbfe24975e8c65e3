"""Who runs a command: a session's user, or the host acting through the HTTP API or the
server itself (live status, demo room). Pure; no I/O."""

from __future__ import annotations

from dataclasses import dataclass

HOST_VID_PREFIX = "vhost-"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who runs a command: a viewer's or host's identity as the hub's rules see it, from a
    WebSocket session or the HTTP API alike. Plain data; checkout keys a buyer's limits and
    holds on ``buyer`` when set, else on ``vid``."""

    vid: str
    name: str
    role: str  # "viewer" or "host"
    buyer: str | None = None
    """``u:<sub>`` when the connection proved a shop account (``buyer_auth``): checkout
    then keys limits and holds on it instead of ``vid``."""
    address: str = ""
    """The client's address as the web layer sees it (an IPv6 client's /64), for the
    per-address cap on an anonymous buyer's unpaid holds; ``""`` when unknown."""

    @property
    def is_host(self) -> bool:
        """True for the room's host."""
        return self.role == "host"

    @classmethod
    def host(cls, room_id: str, name: str) -> Actor:
        """The room's host when no host session is involved: one vid per room
        (``vhost-<room>``, cut to a viewer id's length), speaking under ``name``."""
        return cls(vid=HOST_VID_PREFIX + room_id[:30], name=name, role="host")
