"""The supported-range check the fenced modules use (``livecart.library_versions``)."""

from __future__ import annotations

import pytest

from livecart.library_versions import in_range, release


@pytest.mark.parametrize(
    ("installed", "supported", "expected"),
    [
        ("3.14.5", ">=3.14.5,<3.15", True),
        ("3.14.9", ">=3.14.5,<3.15", True),
        ("3.14.4", ">=3.14.5,<3.15", False),
        ("3.15.0", ">=3.14.5,<3.15", False),
        ("3.15", ">=3.14.5,<3.15", False),
        ("8.1.0", ">=8.1,<8.2", True),
        ("8.1", ">=8.1,<8.2", True),
        ("8.2.0", ">=8.1,<8.2", False),
        ("8.0.9", ">=8.1,<8.2", False),
        ("8.1.0rc1", ">=8.1,<8.2", True),
        ("10.0", ">=8.1,<9", False),
    ],
)
def test_in_range(installed: str, supported: str, expected: bool) -> None:
    assert in_range(installed, supported) is expected


def test_release_drops_suffixes_and_refuses_nonsense() -> None:
    assert release("3.14.5.dev0") == (3, 14, 5)
    with pytest.raises(ValueError):
        release("latest")
    with pytest.raises(ValueError):
        in_range("1.0", "~=1.0")
