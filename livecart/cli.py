"""``livecart``: the command line, composed from the parts that own each verb.

- ``livecart serve``: one node or ``--workers N`` processes (``livecart.web.cli``);
- ``livecart loadtest``: simulated viewers against the operator's own server
  (``livecart.loadtest.cli``). The developer benchmarks are not installed: ``python -m
  bench`` from a checkout (``make bench``).

Only this module imports both ``web`` and ``loadtest``; neither imports the other.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from livecart.loadtest.cli import add_parsers as add_loadtest_parsers
from livecart.web.cli import add_parsers as add_serve_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen verb; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="livecart", description="live-stream shopping server")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_parser(sub)
    add_loadtest_parsers(sub)
    args = parser.parse_args(argv)
    handler = args.handler
    result: int = (
        asyncio.run(handler(args)) if asyncio.iscoroutinefunction(handler) else handler(args)
    )
    return result
