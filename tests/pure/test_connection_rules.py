"""The pure rules behind connection hygiene: client address, Origin, frame masks."""

from __future__ import annotations

import os

from livecart.addresses import address_key, client_address, parse_networks
from livecart.origins import origin_allowed
from livecart.ws_mask import MaskCheck

PROXY = parse_networks("127.0.0.1/32,10.0.0.0/8")


def test_forwarded_for_only_from_trusted_proxies() -> None:
    assert client_address("127.0.0.1", "6.6.6.6, 1.2.3.4", PROXY) == "1.2.3.4"
    assert client_address("127.0.0.1", "1.2.3.4, 10.0.0.9", PROXY) == "1.2.3.4"
    assert client_address("8.8.8.8", "1.2.3.4", PROXY) == "8.8.8.8"  # untrusted peer
    assert client_address("127.0.0.1", "1.2.3.4", ()) == "127.0.0.1"  # nothing trusted
    assert client_address("127.0.0.1", "10.0.0.5", PROXY) == "10.0.0.5"  # all proxies
    assert client_address("127.0.0.1", "junk", PROXY) == "junk"
    assert client_address(None, None, PROXY) == "?"


def test_ipv6_counts_by_slash_64() -> None:
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") == "2001:db8::/64"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("192.0.2.1") == "192.0.2.1"


def test_origin_rule() -> None:
    assert origin_allowed(None, "h:8080", None, ())
    assert origin_allowed("http://h:8080", "h:8080", None, ())
    assert origin_allowed("https://h", "h", None, ())
    assert not origin_allowed("http://evil", "h:8080", None, ())
    assert not origin_allowed("null", "h", None, ())
    assert origin_allowed("https://live.example", "h", "https://live.example/", ())
    assert origin_allowed("https://a.example", "h", None, ("https://a.example",))
    assert origin_allowed("https://x", "h", None, ("*",))


def _frame(payload: bytes, masked: bool) -> bytes:
    n = len(payload)
    head = bytes([0x81]) + (
        bytes([n | (0x80 if masked else 0)])
        if n < 126
        else bytes([126 | (0x80 if masked else 0)]) + n.to_bytes(2, "big")
    )
    return head + (os.urandom(4) if masked else b"") + payload


def test_mask_check_finds_the_first_unmasked_frame_in_any_split() -> None:
    stream = _frame(b"a" * 5, True) + _frame(b"b" * 300, True) + _frame(b"c", False)
    bad_at = len(stream) - 3
    for size in (1, 2, 3, 7, 64, len(stream)):
        check, offset, found = MaskCheck(), 0, None
        for i in range(0, len(stream), size):
            hit = check.feed(stream[i : i + size])
            if hit is not None:
                found = max(offset + hit, offset) if hit else offset
                break
            offset += size
        # every byte before the bad frame goes through, none of its payload does
        assert found is not None and bad_at <= found <= bad_at + 2, size
    assert MaskCheck().feed(_frame(b"x" * 200, True) * 3) is None
