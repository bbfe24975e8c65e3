"""The one way the tests start a browser: Debian's headless Chromium through Playwright.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (``make test``
installs it). The flags keep it off the network (this machine has none) and give it a
fake camera and microphone, which is a real WebRTC publisher.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]


@asynccontextmanager
async def chromium(extra_args: tuple[str, ...] = ()) -> AsyncIterator[Any]:
    """A headless Chromium browser (Playwright async API), closed on exit; ``extra_args``
    are added to ``CHROMIUM_ARGS`` (e.g. ``--ignore-certificate-errors``)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def poll(page: Any, expr: str, within: float = 10.0, what: str = "") -> Any:
    """Evaluate ``expr`` in the page until it is truthy; return its value (AssertionError
    naming ``what`` after ``within`` seconds)."""
    # A page that has only just loaded may not have run its module scripts yet
    # (``window.livecart`` undefined): an exception thrown by ``expr`` counts as "not yet"
    # and is named in the timeout message, so a real error still fails the test.
    guarded = (
        f"(() => {{ try {{ return [true, ({expr})]; }}"
        " catch (e) { return [false, String(e)]; } })()"
    )
    deadline = time.monotonic() + within
    last_error = ""
    while True:
        ok, value = await page.evaluate(guarded)
        if ok and value:
            return value
        if not ok:
            last_error = f" (last error: {value})"
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or expr}: {expr}{last_error}")
        await asyncio.sleep(0.1)
