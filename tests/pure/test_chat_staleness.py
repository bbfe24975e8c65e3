"""chat.staleness: when is a node's copy of a room no longer a prefix of the store's?"""

from __future__ import annotations

from typing import Any

import pytest

from livecart.chat.staleness import (
    Held,
    Verdict,
    gap_fillable,
    held_event,
    judge,
    judge_repeat,
    judge_tail,
)
from livecart.chat.store import Head

HELD = Held(epoch="e1", seq=23, server="run-a")


def chat(seq: int, text: str = "hi", ts: float = 1.0) -> dict[str, Any]:
    return {"seq": seq, "ts": ts, "type": "chat", "id": seq, "text": text}


@pytest.mark.parametrize(
    ("head", "verdict"),
    [
        (Head("e1", 23, "run-a"), Verdict.CURRENT),
        (Head("e1", 30, "run-a"), Verdict.CURRENT),  # events on their way to us
        (Head(None, 0, "run-a"), Verdict.GONE),
        (Head(None, 0, "run-b"), Verdict.GONE),
        (Head("e2", 23, "run-a"), Verdict.STALE),  # replaced
        (Head("e2", 40, "run-b"), Verdict.STALE),
        (Head("e1", 15, "run-b"), Verdict.STALE),  # rolled back 8
        (Head("e1", 22, "run-a"), Verdict.STALE),  # a failover we did not see as such
        (Head("e1", 23, "run-b"), Verdict.VERIFY),  # restarted: maybe from an older copy
        (Head("e1", 25, "run-b"), Verdict.VERIFY),
    ],
)
def test_judge(head: Head, verdict: Verdict) -> None:
    assert judge(HELD, head) is verdict


def test_judge_without_a_known_server_does_not_verify() -> None:
    assert judge(Held("e1", 3, ""), Head("e1", 3, "run-b")) is Verdict.CURRENT


def test_held_event() -> None:
    history = [chat(5), chat(6), chat(7)]
    assert held_event(history, 6) == chat(6)
    assert held_event(history, 4) is None
    assert held_event(history, 8) is None
    assert held_event([], 1) is None


def test_judge_tail() -> None:
    assert judge_tail(23, chat(23), chat(23)) is Verdict.CURRENT
    assert judge_tail(23, chat(23), chat(23, "other", ts=9.0)) is Verdict.STALE
    assert judge_tail(23, chat(23), None) is Verdict.STALE  # the store lost it
    assert judge_tail(23, None, chat(23)) is Verdict.STALE  # cannot tell: reload
    assert judge_tail(0, None, None) is Verdict.CURRENT  # nothing held, nothing lost


def test_judge_repeat() -> None:
    history = [chat(5), chat(6), chat(7)]
    assert judge_repeat(history, chat(6)) is Verdict.CURRENT  # the overlap after a load
    assert judge_repeat(history, chat(6, "new world", ts=2.0)) is Verdict.STALE
    assert judge_repeat(history, chat(2, "older than the history")) is Verdict.CURRENT
    assert judge_repeat([], chat(1)) is Verdict.CURRENT


@pytest.mark.parametrize(
    ("held", "head", "missing", "fillable"),
    [
        (10, 10, [], True),
        (10, 8, [], True),  # judge already refused this one; nothing to fill
        (10, 12, [11, 12], True),
        (10, 12, [11, 12, 13], True),  # published after the head was read
        (10, 12, [], False),  # the history was deleted, seq kept: cannot fill
        (10, 12, [12], False),  # trimmed past what we missed
        (10, 13, [11, 12], False),
    ],
)
def test_gap_fillable(held: int, head: int, missing: list[int], fillable: bool) -> None:
    assert gap_fillable(held, head, missing) is fillable
