"""Argument validation: garbage in any field is bad_args naming that field (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.checkout.errors import CheckoutError
from livecart.checkout.validation import BuyRequest, PayRequest, SaleRequest

NOW = 1_763_760_000_000
GOOD_BUY: dict[str, Any] = {
    "room": "demo",
    "product_id": "p1",
    "buyer_vid": "v8f3",
    "buyer_name": "Alice",
    "qty": 1,
    "key": "k-12345678",
}
GOOD_PAY: dict[str, Any] = {
    "room": "demo",
    "reservation_id": "r_abc",
    "buyer_vid": "v8f3",
    "card": "4242424242424242",
    "key": "pay_12345678",
}
GOOD_SALE: dict[str, Any] = {
    "room": "demo",
    "product_id": "p1",
    "price": 9900,
    "currency": "CNY",
    "units": 100,
    "limit": 2,
    "opens_at": None,
    "ends_at": None,
}

GARBAGE = [None, True, 1.5, -1, 0, "", " ", "x" * 200, "a{b}", [], {}, b"bytes", "\x00ctl"]


def buy(**changes: Any) -> BuyRequest:
    return BuyRequest.parse(**{**GOOD_BUY, **changes})


def pay(**changes: Any) -> PayRequest:
    return PayRequest.parse(**{**GOOD_PAY, **changes})


def sale(**changes: Any) -> SaleRequest:
    args = {**GOOD_SALE, **changes}
    room, pid = args.pop("room"), args.pop("product_id")
    return SaleRequest.parse(room, pid, now_ms=NOW, **args)


def refused(field: str, call: Any, value: Any) -> bool:
    try:
        call(**{field: value})
    except CheckoutError as exc:
        assert exc.code == "bad_args"
        assert exc.message.startswith(f"{field}:"), exc.message
        return True
    return False


def test_good_arguments_parse() -> None:
    assert buy().qty == 1
    assert pay().card == "4242424242424242"
    assert sale().currency == "CNY"


@pytest.mark.parametrize("field", sorted(GOOD_BUY))
@pytest.mark.parametrize("value", GARBAGE, ids=repr)
def test_garbage_in_every_buy_field(field: str, value: Any) -> None:
    if field == "buyer_name" and isinstance(value, str) and value in (" ", "x" * 200, "a{b}"):
        # names are display text: spaces and braces are fine, length is not
        assert refused(field, buy, value) == (len(value) > 64)
        return
    assert refused(field, buy, value)


@pytest.mark.parametrize("field", sorted(GOOD_PAY))
@pytest.mark.parametrize("value", GARBAGE, ids=repr)
def test_garbage_in_every_pay_field(field: str, value: Any) -> None:
    assert refused(field, pay, value)


@pytest.mark.parametrize("field", sorted(GOOD_SALE))
@pytest.mark.parametrize("value", GARBAGE, ids=repr)
def test_garbage_in_every_sale_field(field: str, value: Any) -> None:
    if field in ("opens_at", "ends_at") and value is None:
        return  # absent is allowed
    if field == "price" and value == 0:
        assert not refused(field, sale, value)  # free items are allowed
        return
    if field == "opens_at" and value == 0:
        assert not refused(field, sale, value)  # long past: opens now
        return
    assert refused(field, sale, value)


@pytest.mark.parametrize("qty", [0, -1, 1001, 2**63])
def test_quantity_out_of_range(qty: int) -> None:
    assert refused("qty", buy, qty)


@pytest.mark.parametrize(
    "key", ["short", "x" * 65, "has space1", "ümlaut-key", "semi;colon", "new\nline12"]
)
def test_bad_idempotency_keys(key: str) -> None:
    assert refused("key", buy, key)
    assert refused("key", pay, key)


@pytest.mark.parametrize("key", ["abcdefgh", "A" * 64, "a_b-c_d-1234"])
def test_good_idempotency_keys(key: str) -> None:
    assert buy(key=key).key == key


@pytest.mark.parametrize("currency", ["cny", "CN", "CNYY", "C1Y", "€€€"])
def test_bad_currency(currency: str) -> None:
    assert refused("currency", sale, currency)


@pytest.mark.parametrize(
    "card", ["4242424242424241", "42424242", "4242-4242-4242-4242", "x242424242424242"]
)
def test_bad_cards(card: str) -> None:
    assert refused("card", pay, card)


@pytest.mark.parametrize("card", ["4242424242424242", "4000000000000002", "4000000000000119"])
def test_test_cards_are_valid_numbers(card: str) -> None:
    assert pay(card=card).card == card


def test_sale_window_rules() -> None:
    assert refused("ends_at", sale, NOW)  # not in the future
    with pytest.raises(CheckoutError, match="ends_at: must be after opens_at"):
        sale(opens_at=NOW + 10_000, ends_at=NOW + 5_000)
    s = sale(opens_at=NOW + 10_000, ends_at=NOW + 20_000)
    assert (s.opens_at, s.ends_at) == (NOW + 10_000, NOW + 20_000)


def test_fingerprints() -> None:
    assert buy().fingerprint() == buy(buyer_name="Renamed").fingerprint()
    assert buy().fingerprint() != buy(qty=2).fingerprint()
    assert buy().fingerprint() != buy(product_id="p2").fingerprint()
    assert buy().fingerprint() != buy(buyer_vid="other").fingerprint()
    assert pay().fingerprint() != pay(reservation_id="r_other").fingerprint()
    assert pay().fingerprint() != pay(card="4000000000000002").fingerprint()


def test_card_number_never_in_repr_or_fingerprint() -> None:
    p = pay()
    assert "4242424242424242" not in repr(p)
    assert "424242424242" not in p.fingerprint()


@given(st.dictionaries(st.sampled_from(sorted(GOOD_BUY)), st.from_type(object), min_size=1))
def test_fuzzed_buy_arguments_never_crash(changes: dict[str, Any]) -> None:
    try:
        req = buy(**changes)
    except CheckoutError as exc:
        assert exc.code == "bad_args"
        assert exc.message.split(":")[0] in GOOD_BUY
    else:
        assert isinstance(req.qty, int) and 1 <= req.qty <= 1000
