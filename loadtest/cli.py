"""The ``livecart bench``, ``livecart bench-peers`` and ``livecart loadtest`` sub-commands."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from livecart.loadtest import bench, runner
    from livecart.loadtest.peers import compare

    bench.add_parser(sub)
    compare.add_parser(sub)
    runner.add_parser(sub)
