"""Opt-in memory diagnostics: ``LIVECART_TRACEMALLOC=N`` (N frames per allocation, e.g.
1; unset or 0: off, and no route is added).

When on, the process starts ``tracemalloc`` with the app and serves, on 127.0.0.1 only:

- ``POST /debug/memory/baseline``: take the snapshot later diffs are measured from;
- ``GET /debug/memory?top=30``: ``{"rss", "traced", "traced_peak", "malloc", "gc",
  "top"}`` where ``top`` lists the allocation sites (file:line, or the traceback for
  N > 1) that grew most since the baseline, ``malloc`` is glibc's own account
  (``mallinfo2``: bytes in use, bytes free inside the heap, mmapped), ``blocks`` the
  blocks pymalloc has handed out and ``gc`` the collector's generation counts.
  ``?collect=1`` runs ``gc.collect()`` first (``collected``: the unreachable objects it
  found), ``?garbage=1`` does so and counts them by type (``garbage``: what only the
  cycle collector frees), and ``?trim=1`` calls glibc's ``malloc_trim(0)`` first, to
  tell live objects from freed memory the allocator has not given back.

tracemalloc costs time and memory on every allocation: never leave it on in production.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import tracemalloc
from collections import Counter
from typing import Any

from aiohttp import web

ENV = "LIVECART_TRACEMALLOC"
BASELINE = web.AppKey("memory_baseline", tracemalloc.Snapshot)


def frames_wanted() -> int:
    """The frame count ``LIVECART_TRACEMALLOC`` asks for (0: diagnostics off)."""
    raw = os.environ.get(ENV, "").strip()
    return int(raw) if raw.isdigit() else 0


def rss_bytes() -> int:
    """This process's resident set size (Linux ``/proc/self/status``; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def malloc_info() -> dict[str, int]:
    """glibc's heap as it sees it: ``in_use`` (uordblks), ``free`` (fordblks: freed but
    kept in the heap), ``mmapped`` (hblkhd), ``arena`` (sbrk'd bytes); {} elsewhere."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return {}
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {
        "arena": info.arena,
        "in_use": info.uordblks,
        "free": info.fordblks,
        "mmapped": info.hblkhd,
    }


def malloc_trim() -> bool:
    """Ask glibc to give freed heap memory back to the system; False where it cannot."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    return bool(libc.malloc_trim(0))


async def _baseline(request: web.Request) -> web.Response:
    gc.collect()
    request.app[BASELINE] = tracemalloc.take_snapshot()
    return web.json_response({"ok": True, "traced": tracemalloc.get_traced_memory()[0]})


async def _report(request: web.Request) -> web.Response:
    garbage: dict[str, int] = {}
    collected = 0
    if request.query.get("garbage"):  # what only the cycle collector would free, by type
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            collected = gc.collect()
            kinds = Counter(type(o).__qualname__ for o in gc.garbage)
            garbage = dict(kinds.most_common(20))
        finally:
            gc.garbage.clear()
            gc.set_debug(0)
    elif request.query.get("collect"):
        collected = gc.collect()
    trimmed = malloc_trim() if request.query.get("trim") else False
    top_n = int(request.query.get("top", "30"))
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    key = "traceback" if tracemalloc.get_traceback_limit() > 1 else "lineno"
    baseline = request.app.get(BASELINE)
    top: list[dict[str, Any]] = []
    if baseline is not None:
        for diff in snapshot.compare_to(baseline, key)[:top_n]:
            top.append(
                {
                    "where": [str(frame) for frame in diff.traceback.format()],
                    "size_diff": diff.size_diff,
                    "count_diff": diff.count_diff,
                    "size": diff.size,
                }
            )
    traced, peak = tracemalloc.get_traced_memory()
    body = {
        "rss": rss_bytes(),
        "traced": traced,
        "traced_peak": peak,
        "malloc": malloc_info(),
        "trimmed": trimmed,
        "blocks": sys.getallocatedblocks(),
        "collected": collected,
        "garbage": garbage,
        "gc": {"counts": gc.get_count(), "objects": len(gc.get_objects())},
        "top": top,
    }
    return web.json_response(body)


def setup_memory_debug(app: web.Application) -> None:
    """Start tracemalloc and add the ``/debug/memory`` routes when ``LIVECART_TRACEMALLOC``
    asks for it; otherwise do nothing."""
    frames = frames_wanted()
    if not frames:
        return
    if not tracemalloc.is_tracing():
        tracemalloc.start(frames)

    @web.middleware
    async def local_only(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/debug/") and request.remote not in ("127.0.0.1", "::1"):
            raise web.HTTPForbidden()
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.append(local_only)
    app.router.add_post("/debug/memory/baseline", _baseline)
    app.router.add_get("/debug/memory", _report)
