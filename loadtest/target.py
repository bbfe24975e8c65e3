"""The one server a load test may talk to, and the HTTP calls it makes there.

``Target.parse(url)`` refuses anything but a loopback address (127.0.0.0/8, ::1,
``localhost``) unless ``allow_remote`` is set explicitly, and plain ``http`` only (the
simulated viewers speak ``ws://``). Every request goes to that base URL; redirects are
not followed, so an answer cannot send the tester anywhere else.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse


class TargetRefused(ValueError):
    """The URL is not one this tool may load."""


class ApiError(RuntimeError):
    """The server answered with an error status: its HTTP ``status`` and the ``code`` of its
    JSON error body (``http`` when it had none)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class Target:
    """The checked base URL of the server under test, and the host and port its sockets
    connect to (``localhost`` is 127.0.0.1)."""

    host: str  # what the sockets connect to
    port: int
    base: str  # http://host:port

    @classmethod
    def parse(cls, url: str, *, allow_remote: bool = False) -> Target:
        """The target of a base URL such as ``http://127.0.0.1:8080``. Raises
        ``TargetRefused`` for any scheme but ``http``, a path, query or user part, or a
        host that is not loopback unless ``allow_remote``."""
        parsed = urlparse(url)
        if parsed.scheme != "http":
            raise TargetRefused(f"{url}: only http:// URLs (the viewers speak plain ws://)")
        host = parsed.hostname or ""
        if not host:
            raise TargetRefused(f"{url}: no host")
        if parsed.path not in ("", "/") or parsed.query or parsed.username:
            raise TargetRefused(f"{url}: give the server's base URL, e.g. http://127.0.0.1:8080")
        if not is_loopback(host) and not allow_remote:
            raise TargetRefused(
                f"{url}: refusing to load a server that is not on this machine "
                "(127.0.0.1); pass --allow-remote to load a server you run elsewhere"
            )
        port = parsed.port or 80
        connect = "127.0.0.1" if host == "localhost" else host
        netloc = f"[{connect}]" if ":" in connect else connect
        return cls(connect, port, f"http://{netloc}:{port}")

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> Any:
        """JSON in, JSON out; raises ``ApiError`` for an error status, ``OSError`` when
        the server cannot be reached."""
        assert path.startswith("/"), path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                err = json.loads(raw).get("error") or {}
            except ValueError:
                err = {}
            raise ApiError(
                exc.code, str(err.get("code", "http")), str(err.get("message", raw[:200]))
            ) from None
        return json.loads(raw) if raw else None

    def text(self, path: str, token: str | None = None, timeout: float = 10.0) -> str:
        """GET ``path`` as text (``/metrics``); raises ``ApiError`` for an error status,
        ``OSError`` when the server cannot be reached."""
        assert path.startswith("/"), path
        req = urllib.request.Request(self.base + path)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                body: bytes = resp.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, "http", str(exc.read()[:200])) from None
        return body.decode("utf-8")

    def get(self, path: str, token: str | None = None) -> Any:
        """``GET path`` as JSON (see ``request``)."""
        return self.request("GET", path, token=token)

    def post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        """``POST path`` with a JSON ``body`` (see ``request``)."""
        return self.request("POST", path, body, token)

    def room_path(self, room: str, rest: str = "") -> str:
        """The API path of ``room`` (its id quoted), followed by ``rest``."""
        return f"/api/rooms/{quote(room, safe='')}{rest}"
