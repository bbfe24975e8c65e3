"""The developer benchmarks: figures about livecart on this machine, not tests.

Not installed: a wheel of livecart carries the operator's load tester
(``livecart loadtest``, :mod:`livecart.loadtest`) but not these. They run from a checkout,
with the repository's root on ``sys.path`` (``python -m bench ...`` from the root; the
``make bench``, ``make bench-peers`` and ``make soak`` targets), and import ``livecart.*``
as installed (``make install``); nothing installed imports them.

- ``python -m bench``: one room, N viewers, R chat/s (``bench.chat_fanout``), or
  ``--scenario`` ``join-storm``, ``flash-sale``, ``reserve`` or ``auction``;
- ``python -m bench.soak``: viewers joining and leaving on two nodes;
- ``python -m bench.peers``: livecart next to python-socketio;
- ``python -m bench.video``, ``python -m bench.replay``, ``python -m bench.layout_fanout``:
  video fan-out, replay, and one room over ``make layout``'s nodes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The checkout these benchmarks run from."""


def python_m(module: str) -> list[str]:
    """The command line of ``python -m <module>`` for a child process, whatever its
    working directory: it puts this checkout first on ``sys.path``, as ``-m`` does for
    the current directory."""
    run = (
        f"import runpy, sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-c", run]
