"""The ``livecart bench`` and ``livecart loadtest`` sub-commands."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from loadtest import bench

    bench.add_parser(sub)
