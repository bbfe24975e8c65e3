"""checkout.errors: one root for every error, and the codes table lists exactly ``CODES``
(the drawn tree is checked in test_error_trees.py)."""

from __future__ import annotations

import inspect
import re

import pytest

from livecart.checkout import errors
from livecart.checkout.errors import (
    CODES,
    CheckoutError,
    CheckoutException,
    IllegalTransition,
    ProviderError,
    ProviderTimeout,
)


@pytest.mark.parametrize(
    "exc",
    [
        CheckoutError("bad_args", "qty: must be an integer"),
        IllegalTransition("ordered", "expire"),
        ProviderError("declined by the gateway"),
        ProviderTimeout("no answer"),
    ],
)
def test_every_checkout_error_has_one_root(exc: Exception) -> None:
    assert isinstance(exc, CheckoutException)


def test_the_codes_table_lists_exactly_the_codes() -> None:
    doc = inspect.getdoc(errors) or ""
    table = doc.split("``CheckoutError`` codes", 1)[1]
    listed = set(re.findall(r"^``([a-z_]+)``", table, flags=re.MULTILINE))
    assert listed == CODES
    with pytest.raises(ValueError):
        CheckoutError("internal", "not a checkout code")
