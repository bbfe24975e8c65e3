"""The client address checkout caps anonymous buyers' unpaid holds by.

``client_address(request)`` is the one place the web layer says where a WebSocket
client comes from, for checkout's per-address cap (docs/checkout.md, "Who may buy"):
the peer address of the connection (``request.remote``). An IPv4 address counts as
itself; an IPv6 address as its /64 network, since one home or phone usually gets a
whole /64 and could otherwise pick a fresh address per buy. Anything else (a Unix
socket, an unparsable value) is ``""``: no cap applies.

Behind a reverse proxy every client has the proxy's address, so the cap counts all of
them together: run ``--holds-per-address 0`` there until the trusted-proxy
``X-Forwarded-For`` reading replaces ``request.remote`` here (this function is the one
to swap).
"""

from __future__ import annotations

import ipaddress

from aiohttp import web


def normalise(remote: str | None) -> str:
    """``remote`` as checkout counts it: an IPv4 address, an IPv6 /64, or ``""``."""
    if not remote:
        return ""
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_address(request: web.BaseRequest) -> str:
    """Where the client of ``request`` comes from (see the module docstring)."""
    return normalise(request.remote)
