"""A command is named once, in ``chat.commands``' table; docs/protocol.md's command tables
must list every one of them, with who may send it."""

from __future__ import annotations

import re
from pathlib import Path

from livecart.chat import commands as c

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def command_rows() -> dict[str, bool]:
    """Each command of protocol.md's command tables (those whose header starts with
    ``| cmd |``) -> whether the docs say only the host may send it."""
    rows: dict[str, bool] = {}
    in_table = host_section = False
    for line in PROTOCOL.read_text().splitlines():
        if line.startswith("#"):
            host_section = line.startswith("### Host only")
        if line.startswith("| cmd |"):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
        if not in_table or line.startswith("|--"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        host = host_section or cells[1] == "host"
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            rows[name] = host
    return rows


def test_every_command_is_documented_with_who_may_send_it() -> None:
    rows = command_rows()
    assert set(rows) == set(c.COMMANDS)
    for name, parse in c.PARSERS.items():
        cls = parse.__self__  # type: ignore[attr-defined]  # each parser is a class's
        assert name in cls.names()
        assert rows[name] == cls.HOST_ONLY, name
