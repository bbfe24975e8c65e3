"""Buyer tokens: a JWT from the shop's own login says which of its users is buying.

``BuyerTokens(secret=..., public_key=..., audience=..., issuer=...)`` verifies a token
(PyJWT) and returns the shop's user id (``sub``) and the token's expiry; it raises
``CommandError`` with a code of docs/protocol.md otherwise:

- ``token_expired``: ``exp`` has passed (``LEEWAY_SECONDS`` of clock skew allowed);
- ``bad_token``: anything else: not a JWT, an algorithm other than the configured key's
  (HS256 for a shared secret, RS256 or ES256 for an RSA or EC public key; never
  ``none``), a wrong signature, a wrong ``aud`` or ``iss`` (checked when configured),
  no ``exp``, or a ``sub`` that is not 1-100 printable ASCII characters without spaces
  or braces.

Pure: no I/O; the key comes in as bytes or PEM text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from livecart.chat.errors import CommandError, ErrorCode
from livecart.limits import MAX_BUYER_SUB_LEN, MAX_BUYER_TOKEN_LEN

LEEWAY_SECONDS = 30
BUYER_PREFIX = "u:"
# printable ASCII without space, '{' and '}'
_SUB = re.compile(rf"[!-z|~]{{1,{MAX_BUYER_SUB_LEN}}}")


@dataclass(frozen=True, slots=True)
class BuyerClaims:
    """A verified token: ``buyer`` is ``u:<sub>``, ``expires_ms`` its ``exp`` in ms."""

    sub: str
    expires_ms: int

    @property
    def buyer(self) -> str:
        """The buyer's key for checkout: ``u:<sub>``."""
        return BUYER_PREFIX + self.sub


def _bad(message: str) -> CommandError:
    return CommandError(ErrorCode.BAD_TOKEN, message)


class BuyerTokens:
    """Verifies buyer tokens against a shared secret and/or a PEM public key."""

    def __init__(
        self,
        *,
        secret: bytes | None = None,
        public_key: str | bytes | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        leeway: float = LEEWAY_SECONDS,
    ) -> None:
        self._keys: dict[str, Any] = {}
        if secret:
            if len(secret) < 32:
                raise ValueError("a buyer token secret must be at least 32 bytes")
            self._keys["HS256"] = secret
        if public_key:
            pem = public_key.encode() if isinstance(public_key, str) else public_key
            key = load_pem_public_key(pem)
            if isinstance(key, rsa.RSAPublicKey):
                self._keys["RS256"] = key
            elif isinstance(key, ec.EllipticCurvePublicKey):
                self._keys["ES256"] = key
            else:
                raise ValueError("the buyer token public key must be an RSA or EC key")
        if not self._keys:
            raise ValueError("buyer tokens need a secret or a public key")
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The JWT algorithms this verifier accepts (HS256, RS256, ES256: those of its keys)."""
        return tuple(self._keys)

    def verify(self, token: object) -> BuyerClaims:
        """The claims of a genuine token; raises ``CommandError`` (see the module)."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_BUYER_TOKEN_LEN:
            raise _bad(f"token: must be a JWT of at most {MAX_BUYER_TOKEN_LEN} characters")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
            key = self._keys.get(alg) if isinstance(alg, str) else None
            if key is None or not isinstance(alg, str):
                raise _bad("token: not signed with an algorithm this server accepts")
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise CommandError(ErrorCode.TOKEN_EXPIRED, "token: expired") from None
        except jwt.InvalidTokenError as exc:
            raise _bad(f"token: {exc}"[:200]) from None
        sub, exp = claims.get("sub"), claims.get("exp")
        if not isinstance(sub, str) or _SUB.fullmatch(sub) is None:
            raise _bad("token: sub must be 1-100 printable characters without spaces")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise _bad("token: exp must be a number")
        return BuyerClaims(sub=sub, expires_ms=int(exp * 1000))
