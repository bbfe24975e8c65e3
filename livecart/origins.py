"""Which pages may open a WebSocket here: the ``Origin`` rule, pure.

A browser names the page's origin in ``Origin`` on every WebSocket handshake; other
clients (native apps, the load tester, livecart.client) send none. ``origin_allowed``
accepts a handshake when
- it has no ``Origin`` (not a browser: a browser cannot leave it out), or
- the origin's host (and port) is the request's ``Host`` (same origin; the scheme is not
  compared, since TLS usually ends at the proxy), or
- it is the configured public URL's origin, or one of the allowlisted origins
  (``scheme://host[:port]``, compared without case; ``*`` allows every origin).
Everything else is refused (403 before the upgrade).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def normalise_origin(text: str) -> str:
    """``scheme://host[:port]`` in lower case, default ports dropped; ``""`` if not one."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return ""
    if not parts.scheme or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(parts.scheme.lower())
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme.lower()}://{host}{suffix}"


def parse_origins(spec: str | Iterable[str]) -> tuple[str, ...]:
    """The allowlist from ``--allowed-origins`` (comma separated) or a list."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for item in (i.strip() for i in items):
        if item == "*":
            out.append("*")
        elif item:
            origin = normalise_origin(item)
            if not origin:
                raise ValueError(f"not an origin (scheme://host[:port]): {item!r}")
            out.append(origin)
    return tuple(out)


def _netloc(origin: str) -> str:
    return origin.partition("://")[2]


def origin_allowed(
    origin: str | None, host: str | None, public_url: str | None, allowed: tuple[str, ...]
) -> bool:
    """True when a handshake with this ``Origin`` may go on (see the module docstring)."""
    if origin is None:
        return True
    if "*" in allowed:
        return True
    seen = normalise_origin(origin)
    if not seen:
        return False
    if host:
        same = normalise_origin("http://" + host.strip())
        if same and _netloc(same) == _netloc(seen):
            return True
        same_tls = normalise_origin("https://" + host.strip())
        if same_tls and _netloc(same_tls) == _netloc(seen):
            return True
    if public_url and normalise_origin(public_url) == seen:
        return True
    return seen in allowed
