"""The plain counting behind ``/metrics``: histogram buckets, command labels, and the
load tester's reading of an exposition."""

from __future__ import annotations

import pytest

from livecart.chat import commands as c
from livecart.histogram import Buckets
from livecart.loadtest.server_counters import server_counters


def test_buckets_count_a_value_equal_to_a_bound_in_that_bound() -> None:
    b = Buckets((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 1.0, 7.0):
        b.observe(v)
    assert b.counts == [2, 2, 1]
    assert b.cumulative() == [("0.1", 2), ("1.0", 4), ("+Inf", 5)]
    assert b.count == 5 and b.sum == pytest.approx(8.65)


@pytest.mark.parametrize("bounds", [(), (1.0, 1.0), (2.0, 1.0)])
def test_buckets_refuse_bounds_that_are_not_increasing(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        Buckets(bounds)


def test_command_labels_come_from_a_fixed_set() -> None:
    assert c.frame_label({"cmd": "chat"}) == "chat"
    assert c.frame_label({"cmd": "mute"}) == "mute"
    assert c.frame_label({"cmd": "buy"}) == "buy"
    assert c.frame_label({"cmd": "x" * 30}) == "invalid"
    assert c.frame_label({"cmd": ["chat"]}) == "invalid"
    moderate = c.parse_command({"cmd": "ban", "vid": "vabcdefgh"})
    assert c.command_label(moderate) == "ban"
    assert c.command_label(c.parse_command({"cmd": "chat", "text": "hi"})) == "chat"


EXPOSITION = """\
# HELP livecart_deliveries_total Batch frames delivered.
# TYPE livecart_deliveries_total counter
livecart_deliveries_total{worker="0"} 1200.0
livecart_deliveries_total{worker="1"} 34.0
# HELP livecart_commands_total Commands.
# TYPE livecart_commands_total counter
livecart_commands_total{command="chat",outcome="ok",worker="0"} 5.0
livecart_commands_total{command="chat",outcome="rate_limited",worker="1"} 2.0
# HELP livecart_viewers Viewers.
# TYPE livecart_viewers gauge
livecart_viewers{room="r1",worker="0"} 9.0
"""


def test_the_load_tester_sums_every_worker_and_label_set() -> None:
    assert server_counters(EXPOSITION) == {
        "deliveries": 1234,
        "commands": 7,
        "chat_skipped": 0,
        "slow_closed": 0,
    }


def test_the_load_tester_refuses_what_is_not_an_exposition() -> None:
    with pytest.raises(ValueError):
        server_counters('{"deliveries": 3}')
