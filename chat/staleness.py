"""Is this node's copy of a room still a prefix of the room in the store?

A node applies a room's events in ``seq`` order and serves joins and resumes from memory.
That is right only while the store's room is its copy plus newer events. A failover to a
replica that was behind, an AOF that lost its last second, a restart from an older copy,
a FLUSHALL or a re-created room all move the store's room back or onto a new epoch; the
node then holds events the store never had (or no longer has under that ``seq``).

The signs, and what each means (``Verdict``):
- the store has no such room: ``GONE``;
- another epoch, or a ``seq`` below the one the node applied: ``STALE``;
- the same epoch and ``seq`` at or above, but a different datastore instance than the
  copy was last checked against (Redis restarted or failed over): ``VERIFY``, i.e.
  compare the event the node applied last with the store's event of that ``seq``
  (``judge_tail``): equal, the store did not go back (``CURRENT``); different or gone,
  ``STALE``;
- on the feed, an event at or below the applied ``seq`` that differs from the one held
  under that ``seq`` (``judge_repeat``): the store issued that ``seq`` twice, ``STALE``.
  A repeat of a held event is the harmless overlap after a load or a resync; a chat
  message and its tombstone (``events.same_event``) count as the same event.

The hub reloads a ``STALE`` room and sends every session a fresh snapshot; a ``GONE``
room closes its sessions (4004) and is dropped. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from livecart.chat.events import same_event
from livecart.chat.store import Head


class Verdict(Enum):
    """What a node should do with its copy of a room, as ``judge`` and friends decide."""

    CURRENT = "current"  # a prefix of the store's room: keep it, fill gaps as usual
    VERIFY = "verify"  # the datastore instance changed: compare the last event (judge_tail)
    STALE = "stale"  # the store's room went back or changed epoch: reload, re-snapshot
    GONE = "gone"  # the store has no such room: close 4004, drop it


@dataclass(frozen=True, slots=True)
class Held:
    """What a node holds of a room: its epoch and applied ``seq``, and the datastore
    instance (``Head.server``) its copy was last found current against ("" unknown)."""

    epoch: str
    seq: int
    server: str


def judge(held: Held, head: Head) -> Verdict:
    """Compare a node's copy with the store's ``head``, read after ``held`` was taken (so
    a current copy never has a ``seq`` above the head's)."""
    if head.epoch is None:
        return Verdict.GONE
    if head.epoch != held.epoch or head.seq < held.seq:
        return Verdict.STALE
    if held.server and head.server != held.server:
        return Verdict.VERIFY
    return Verdict.CURRENT


def held_event(history: Sequence[Mapping[str, Any]], seq: int) -> Mapping[str, Any] | None:
    """The event of ``seq`` in a room's history (wire dicts, consecutive seqs), or None
    when the history does not hold it."""
    if not history:
        return None
    index = seq - int(history[0]["seq"])
    if 0 <= index < len(history):
        return history[index]
    return None


def judge_tail(
    held_seq: int, held_last: Mapping[str, Any] | None, stored: Mapping[str, Any] | None
) -> Verdict:
    """After the datastore instance changed (same epoch, ``seq`` not below ours): the copy
    is current when the store's event of ``held_seq`` (``stored``) is the one the node
    applied last (``held_last``); a node that applied nothing has nothing to lose."""
    if held_seq == 0:
        return Verdict.CURRENT
    if held_last is None or stored is None or not same_event(held_last, stored):
        return Verdict.STALE
    return Verdict.CURRENT


def judge_repeat(history: Sequence[Mapping[str, Any]], arrived: Mapping[str, Any]) -> Verdict:
    """An event at or below the applied ``seq`` came on the feed (``arrived``: its wire
    dict). ``STALE`` when the node holds a different event under that ``seq``; otherwise
    ``CURRENT`` (a harmless repeat, or a ``seq`` the history no longer holds: the
    periodic ``judge`` settles that one)."""
    held = held_event(history, int(arrived["seq"]))
    if held is not None and not same_event(held, arrived):
        return Verdict.STALE
    return Verdict.CURRENT


def gap_fillable(held_seq: int, head_seq: int, missing: Sequence[int]) -> bool:
    """Whether the history read after ``head`` (the ``seq`` of each event after
    ``held_seq`` it still holds) carries on from ``held_seq`` up to ``head_seq`` at least,
    so the copy can be brought up to date without a reload."""
    if not missing:
        return head_seq <= held_seq
    return missing[0] == held_seq + 1 and missing[-1] >= head_seq
