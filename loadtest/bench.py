"""Placeholder replaced below."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("bench", help="chat fan-out benchmark")
