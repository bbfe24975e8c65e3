"""Each part's error tree, drawn in the docstring of its errors module, is the tree the
code has: every exception class defined there appears once, under its real base."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from livecart.chat import errors as chat_errors
from livecart.checkout import errors as checkout_errors
from livecart.client import errors as client_errors
from livecart.streamer import errors as streamer_errors

_BRANCH = re.compile(r"^    (?P<indent>[ │]*)[├└]── (?P<name>[A-Za-z_][A-Za-z0-9_]*)\b")


def drawn_parents(module: ModuleType) -> dict[str, str]:
    """``{class name: parent name}`` read from the drawing after the first ``::``."""
    doc = module.__doc__ or ""
    lines = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    root = lines[0].split()[0]
    parents = {} if root == "Exception" else {root: "Exception"}
    stack = [root]
    for line in lines[1:]:
        match = _BRANCH.match(line)
        if match is None:
            continue  # a description continued on the next line
        depth = len(match["indent"]) // 4
        del stack[depth + 1 :]
        parents[match["name"]] = stack[depth]
        stack.append(match["name"])
    return parents


def defined_errors(module: ModuleType) -> dict[str, type]:
    return {
        name: cls
        for name, cls in vars(module).items()
        if isinstance(cls, type)
        and issubclass(cls, BaseException)
        and cls.__module__ == module.__name__
    }


@pytest.mark.parametrize("module", [chat_errors, checkout_errors, streamer_errors, client_errors])
def test_the_drawn_tree_is_the_code_tree(module: ModuleType) -> None:
    defined = defined_errors(module)
    drawn = drawn_parents(module)
    assert set(drawn) == set(defined)
    for name, cls in defined.items():
        assert cls.__bases__ == (getattr(module, drawn[name], None) or Exception,), name


def test_a_wrong_drawing_is_caught() -> None:
    fake = ModuleType("fake", "Tree::\n\n    A\n    └── B\n")
    exec("class A(Exception): pass\nclass B(Exception): pass", fake.__dict__)
    for cls in defined_errors(fake).values():
        cls.__module__ = "fake"
    drawn = drawn_parents(fake)
    assert drawn == {"A": "Exception", "B": "A"}
    assert fake.B.__bases__ != (getattr(fake, drawn["B"]),)
