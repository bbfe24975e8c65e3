"""``livecart serve --help`` names, for every flag, its environment variable and its
default, and each agrees with ``web.config``: the variable is the one ``Config.from_env``
reads and the config table lists beside the flag, the default is ``Config``'s own."""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import pytest

from livecart.web import cli as web_cli
from livecart.web import config as web_config
from livecart.web.config import Config

ENV_AND_DEFAULT = re.compile(r"\(env ([A-Z_]+)(=\S+)?, default ([^()]+)\)$")
# Flags whose default is worked out at run time, not a constant of Config.
COMPUTED = {"admin_token", "node_name", "public_url"}


def serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livecart")
    sub = parser.add_subparsers(dest="command")
    web_cli.add_parsers(sub)
    found: argparse.ArgumentParser = sub.choices["serve"]
    return found


def flags() -> list[argparse.Action]:
    return [a for a in serve_parser()._actions if not isinstance(a, argparse._HelpAction)]


def shown(value: object) -> str:
    """How the help writes a ``Config`` default."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    if isinstance(value, Path):
        return f"./{value}"
    return str(value)


def test_the_flags_are_found() -> None:
    names = {a.option_strings[0] for a in flags()}
    assert {"--port", "--data-dir", "--no-demo", "--metrics-allow", "--workers"} <= names
    assert len(names) >= 20


@pytest.mark.parametrize("action", flags(), ids=lambda a: a.option_strings[0])
def test_every_flag_names_its_variable_and_default(action: argparse.Action) -> None:
    match = ENV_AND_DEFAULT.search(action.help or "")
    assert match, f"{action.option_strings[0]}: {action.help!r}"
    variable, default = match.group(1), match.group(3)
    assert variable in inspect.getsource(Config.from_env)
    table = (web_config.__doc__ or "").splitlines()
    rows = [row for row in table if f"``{variable.removeprefix('LIVECART_')}``" in row]
    rows += [row for row in table if f"``{variable}``" in row]
    assert any(action.option_strings[0] in row for row in rows), f"{variable} not in the table"
    if action.dest not in COMPUTED:
        expected = shown(getattr(Config(), action.dest))
        assert default.startswith(expected), f"{action.option_strings[0]}: {default!r}"


def test_the_rendered_help_shows_them_all() -> None:
    text = " ".join(serve_parser().format_help().split())
    for action in flags():
        assert action.help is not None
        assert " ".join(action.help.split()) in text


def test_variables_without_a_flag_are_documented_too() -> None:
    text = serve_parser().format_help()
    table = web_config.__doc__ or ""
    for variable in ("LIVECART_CLOCK_OFFSET", "LIVECART_WEBHOOK_URL", "LIVECART_WS_HEARTBEAT"):
        assert variable in text and variable in table
        assert variable in inspect.getsource(Config.from_env)
    assert "--no-demo" in table and "LIVECART_DEMO" in table


def test_the_variables_set_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVECART_DEMO", "0")
    monkeypatch.setenv("LIVECART_WORKERS", "3")
    monkeypatch.setenv("LIVECART_METRICS_ALLOW", "10.0.0.0/8, *")
    args = serve_parser().parse_args([])
    config = web_cli._config(args)
    assert (config.demo, config.workers) == (False, 3)
    assert config.metrics_allow == ("10.0.0.0/8", "*")
    assert web_cli._config(
        serve_parser().parse_args(["--metrics-allow", "none"])
    ).metrics_allow == ("none",)
