"""Buyer tokens (``chat.buyer_tokens``) and the client address checkout caps by."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from livecart.addresses import address_key
from livecart.chat.buyer_tokens import BuyerTokens
from livecart.chat.errors import CommandError

SECRET = b"k" * 32


def pem(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def code(tokens: BuyerTokens, token: object) -> str:
    with pytest.raises(CommandError) as info:
        tokens.verify(token)
    return info.value.code


def claims(**extra: object) -> dict[str, object]:
    return {"sub": "user-1", "exp": int(time.time()) + 60, **extra}


def test_hs256_with_audience_and_issuer() -> None:
    tokens = BuyerTokens(secret=SECRET, audience="shop", issuer="login")
    good = jwt.encode(claims(aud="shop", iss="login"), SECRET, algorithm="HS256")
    verified = tokens.verify(good)
    assert verified.buyer == "u:user-1" and verified.expires_ms % 1000 == 0
    for bad in (
        jwt.encode(claims(aud="other", iss="login"), SECRET, algorithm="HS256"),
        jwt.encode(claims(aud="shop", iss="other"), SECRET, algorithm="HS256"),
        jwt.encode(claims(iss="login"), SECRET, algorithm="HS256"),  # no aud
        jwt.encode(claims(aud="shop", iss="login"), b"x" * 32, algorithm="HS256"),
        jwt.encode({"sub": "u", "aud": "shop", "iss": "login"}, SECRET, algorithm="HS256"),
        jwt.encode(claims(aud="shop", iss="login"), None, algorithm="none"),
        jwt.encode(claims(aud="shop", iss="login", sub="a b"), SECRET, algorithm="HS256"),
        jwt.encode(claims(aud="shop", iss="login"), SECRET * 2, algorithm="HS512"),
        jwt.encode(claims(aud="shop", iss="login", sub=7), SECRET, algorithm="HS256"),
        "", "a.b.c", "é" * 10, "x" * 9000, None, 12, ["a"],
    ):  # fmt: skip
        assert code(tokens, bad) == "bad_token", bad
    expired = jwt.encode(claims(aud="shop", iss="login", exp=1), SECRET, algorithm="HS256")
    assert code(tokens, expired) == "token_expired"


def test_leeway_is_thirty_seconds() -> None:
    tokens = BuyerTokens(secret=SECRET)
    now = int(time.time())
    assert tokens.verify(jwt.encode(claims(exp=now - 20), SECRET, algorithm="HS256"))
    late = jwt.encode(claims(exp=now - 40), SECRET, algorithm="HS256")
    assert code(tokens, late) == "token_expired"


@pytest.mark.parametrize(
    ("private", "alg"),
    [
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (ec.generate_private_key(ec.SECP256R1()), "ES256"),
    ],
)
def test_public_keys_accept_only_their_algorithm(
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, alg: str
) -> None:
    tokens = BuyerTokens(public_key=pem(private))
    assert tokens.algorithms == (alg,)
    assert tokens.verify(jwt.encode(claims(), private, algorithm=alg)).sub == "user-1"
    assert code(tokens, jwt.encode(claims(), SECRET, algorithm="HS256")) == "bad_token"


def test_a_key_is_required_and_a_secret_is_long() -> None:
    with pytest.raises(ValueError):
        BuyerTokens()
    with pytest.raises(ValueError):
        BuyerTokens(secret=b"short")


def test_addresses_checkout_counts() -> None:
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"  # the same /64
    assert address_key("::ffff:198.51.100.4") == "198.51.100.4"
