"""One display-name rule: what a connection is given is what checkout accepts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.checkout.errors import CheckoutError
from livecart.checkout.validation import display_name
from livecart.display_names import clean_display_name, is_display_name
from livecart.limits import MAX_DISPLAY_NAME


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (None, "guest"),
        ("", "guest"),
        ("   ", "guest"),
        ("  Ann  ", "Ann"),
        ("x" * 40, "x" * MAX_DISPLAY_NAME),
        ("Bo\u202eb", "Bob"),  # bidi override
        ("Z\u200bo\u200de", "Zoe"),  # zero-width space and joiner
        ("a\x00b\x1bc\x7f", "abc"),
        ("\u200b", "guest"),
        ("小红书 主播", "小红书 主播"),
    ],
)
def test_clean_display_name(raw: str | None, clean: str) -> None:
    assert clean_display_name(raw) == clean


@given(st.text(max_size=200))
def test_every_cleaned_name_is_accepted_by_checkout(raw: str) -> None:
    name = clean_display_name(raw)
    assert is_display_name(name)
    assert display_name(name) == name


@pytest.mark.parametrize("bad", ["", "x" * (MAX_DISPLAY_NAME + 1), "a\nb", "a\u202eb", 7, None])
def test_checkout_refuses_what_the_rule_refuses(bad: object) -> None:
    with pytest.raises(CheckoutError) as info:
        display_name(bad)
    assert info.value.code == "bad_args"
