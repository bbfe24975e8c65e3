"""checkout.errors: the tree drawn in its docstring is the tree the code has, and the
codes table lists exactly ``CODES``."""

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

_BRANCH = re.compile(r"^    (?P<indent>[ │]*)[├└]── (?P<name>[A-Za-z]+)\b")


def drawn_parents() -> dict[str, str]:
    """``{class name: parent name}`` read from the drawing in the module docstring."""
    doc = errors.__doc__ or ""
    drawing = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    parents: dict[str, str] = {}
    stack = [drawing.splitlines()[0].strip()]  # the root: "Exception"
    for line in drawing.splitlines()[1:]:
        match = _BRANCH.match(line)
        if match is None:
            continue  # a description continued on the next line
        depth = len(match["indent"]) // 4
        del stack[depth + 1 :]
        parents[match["name"]] = stack[depth]
        stack.append(match["name"])
    return parents


def test_the_drawn_tree_is_the_code_tree() -> None:
    defined = {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type)
        and issubclass(cls, BaseException)
        and cls.__module__ == errors.__name__
    }
    drawn = drawn_parents()
    assert set(drawn) == set(defined)
    for name, cls in defined.items():
        assert cls.__bases__ == (getattr(errors, drawn[name], None) or Exception,), name


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
