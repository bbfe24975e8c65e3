"""The ``livecart bench``, ``livecart bench-peers``, ``livecart loadtest`` and ``livecart soak``
sub-commands."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from livecart.loadtest import bench, runner, soak
    from livecart.loadtest.peers import compare

    bench.add_parser(sub)
    compare.add_parser(sub)
    runner.add_parser(sub)
    soak.add_parser(sub)
