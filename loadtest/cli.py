"""The ``livecart loadtest`` sub-command (the developer benchmarks are ``python -m bench``,
in the repository's ``bench/``, which is not installed)."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from livecart.loadtest import runner

    runner.add_parser(sub)
