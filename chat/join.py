"""A session's first frame: a ``resume`` when it can be answered exactly, else a fresh
``snapshot`` (docs/protocol.md). Built from the room as this node holds it; no I/O."""

from __future__ import annotations

from typing import Any

from livecart.chat.room import Room
from livecart.chat.session import Session


def you(room: Room, session: Session) -> dict[str, Any]:
    return {
        "vid": session.vid,
        "token": session.token,
        "name": session.name,
        "role": session.role,
        "muted": session.vid in room.state.muted,
    }


def snapshot_frame(room: Room, session: Session) -> dict[str, Any]:
    """A fresh snapshot; a host's also lists the banned words, muted and banned vids."""
    state = room.state
    snap = state.snapshot()
    snap.update(t="snapshot", recovered=False, you=you(room, session), live=room.live_snapshot())
    if session.is_host:
        snap["banned_words"] = list(state.banned_words)
        snap["muted"] = sorted(state.muted)
        snap["banned"] = sorted(state.banned)
    return snap


def first_frame(
    room: Room, session: Session, since: int | None, epoch: str | None
) -> dict[str, Any]:
    """``resume`` with every event after ``since`` when ``epoch`` is the room's and the
    history still holds them all; otherwise a snapshot. Never a silent gap."""
    state = room.state
    if since is not None and epoch == state.epoch:
        events = state.events_since(since)
        if events is not None:
            return {
                "t": "resume",
                "recovered": True,
                "epoch": state.epoch,
                "seq": state.seq,
                "you": you(room, session),
                "events": events,
                "live": room.live_snapshot(),
            }
    return snapshot_frame(room, session)
