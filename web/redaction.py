"""Keeping secrets out of log lines, and the request ids that go into them.

Pure: no I/O, no event loop. ``Redactor.redact`` is applied by the log formatters to the
message, the exception text and every string field of every record, so a token that
reaches a log call anyway (a ``%r`` of a URL, a header dict, a bad message quoted back)
is replaced before the line is written. It removes:

- admin and host tokens by their shape (``adm_...``, ``host_...``: prefix and 20 or more
  URL-safe characters, as ``web.auth`` and ``web.api`` make them), and any configured
  secret (``--admin-token`` may be anything) by its exact text;
- the credential of an ``Authorization`` header (``Authorization: Bearer x``,
  ``'Authorization': 'x'``) and any ``Bearer x``;
- the value of token-like parameters (``token=``, ``host_token=``, ``vid=``, ``secret=``,
  ``password=``, ``sig=``, ``key=`` ...), in a query string, a fragment or a form;
- the signature half of a viewer token (``v<id>.<32 hex>``: the id stays, it is public).

``log_path`` is what the access log shows of a URL: the path without its query string,
and without the WHIP session id (``DELETE /whip/{room}/{session}`` needs no token, so
the session id is the credential). ``request_id`` accepts a client's ``X-Request-Id``
when it is short and plain, else makes a new one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_SECRET = 6
"""Configured secrets shorter than this are not replaced literally (they would eat
ordinary words); they still go through the shape rules."""

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"""(?i)\b(authorization["']?\s*[:=]\s*["']?)"""
            r"""(?:(?:bearer|basic|token)\s+)?[^\s"',;}&]+"""
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;}&]+"), r"\1" + REDACTED),
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9])((?:[a-z_]*token|vid|secret|password|passwd|sig|signature|key)"
            r"""["']?\s*[=:]\s*["']?)[^&#\s"',;}]+"""
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"\b(adm|host)_[A-Za-z0-9_-]{20,}"), r"\1_" + REDACTED),
    (re.compile(r"\b(v[A-Za-z0-9_-]{16})\.[0-9a-f]{32}\b"), r"\1." + REDACTED),
)

_WHIP_SESSION = re.compile(r"^(/whip/[^/]+/)[^/]+")
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class Redactor:
    """Replaces tokens in text with ``[redacted]``; see the module docstring for what.

    ``redact`` never raises and is idempotent: ``redact(redact(s)) == redact(s)``.
    """

    def __init__(self, secrets_: Iterable[str | None] = ()) -> None:
        self._literals: list[str] = []
        for secret in secrets_:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Also replace this exact text from now on (ignored when empty or short)."""
        if secret and len(secret) >= MIN_SECRET and secret not in self._literals:
            self._literals.append(secret)
            self._literals.sort(key=len, reverse=True)  # longest first: no partial leak

    def redact(self, text: str) -> str:
        """``text`` with every known secret and secret-shaped value replaced; never raises,
        idempotent."""
        for literal in self._literals:
            if literal in text:
                text = text.replace(literal, REDACTED)
        for pattern, replacement in _RULES:
            text = pattern.sub(replacement, text)
        return text


def log_path(path: str) -> str:
    """The path of a request as the access log shows it: no query string or fragment,
    and ``[redacted]`` for the session of a ``/whip/{room}/{session}`` URL."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    return _WHIP_SESSION.sub(r"\1" + REDACTED, path)


def request_id(incoming: str | None) -> str:
    """``incoming`` when it is 1-64 characters of ``A-Z a-z 0-9 . _ : -`` (starting
    with a letter or digit) and not token-shaped; otherwise a new random id of 16 hex
    digits."""
    if incoming and REQUEST_ID.match(incoming) and Redactor().redact(incoming) == incoming:
        return incoming
    return secrets.token_hex(8)
