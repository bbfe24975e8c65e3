"""Importing a pure checkout module loads neither Redis nor aiohttp (nor asyncio).

Each check runs in a fresh interpreter: this process has long imported everything.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = ("errors", "validation", "lifecycle", "orders", "audit")


def imports_cleanly(statement: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", statement], capture_output=True, text=True, timeout=60
    )


def test_the_pure_modules_load_no_redis_and_no_aiohttp() -> None:
    done = imports_cleanly(
        "import livecart.checkout.validation, livecart.checkout.lifecycle, "
        "livecart.checkout.errors, sys; "
        "assert 'redis' not in sys.modules and 'aiohttp' not in sys.modules"
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", PURE)
def test_a_pure_module_imports_no_io_library(name: str) -> None:
    done = imports_cleanly(
        f"import livecart.checkout.{name}, sys; "
        "loaded = {'asyncio', 'aiohttp', 'redis'} & set(sys.modules); "
        "assert not loaded, loaded"
    )
    assert done.returncode == 0, done.stderr


def test_the_check_can_fail() -> None:
    done = imports_cleanly(
        "import livecart.checkout.service, sys; assert 'redis' not in sys.modules"
    )
    assert done.returncode != 0
