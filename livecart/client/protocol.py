"""The client's side of the protocol, without I/O: where the client is in the room's
sequence, what to ask for on a reconnect, and what each server frame means.

``ClientProtocol`` keeps the ``epoch`` and the last ``seq`` applied and the viewer token.
``receive(frame)`` turns one decoded server frame into what it carries, in order:

- ``snapshot``: the first one is kept as ``protocol.snapshot`` and yields nothing; any
  later one (a resume the server could not answer, or a room it replaced) yields
  ``Reset`` and moves the position to the snapshot's ``epoch``/``seq``;
- ``resume``: ``Resumed``, then every event after the position, once each, in order;
- ``batch``: its events after the position (a batch may repeat events the first frame
  already held), then ``LiveChanged`` and ``Skipped`` when it carries them;
- ``reply``: ``Reply`` (matching it to its command is the caller's);
- anything else: nothing (a newer server may add frame types).

Every event yielded has a ``seq`` above the one before it: across any number of
reconnects a consumer sees each event exactly once and in order. ``query()`` gives the
parameters of the next connection (``since``/``epoch`` once the client holds a position,
``vid`` once the server issued a token). ``receive`` raises ``ValueError`` for a frame it
cannot read and then changes nothing. Pure; no I/O.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping
from typing import Any

from livecart.client.events import (
    Event,
    LiveChanged,
    Reply,
    Reset,
    Resumed,
    RoomEvent,
    Skipped,
    Snapshot,
    You,
    read_event,
)


class ClientProtocol:
    """Where a client is in a room's sequence, and what each server frame means; see the
    module docstring. Pure: every event it yields has a higher ``seq`` than the one before,
    across reconnects, so a consumer sees each event exactly once and in order."""

    def __init__(self, viewer_token: str | None = None) -> None:
        self.viewer_token = viewer_token
        self.epoch: str | None = None
        self.seq: int | None = None
        self.snapshot: Snapshot | None = None
        self.you: You | None = None
        self._ids = itertools.count(1)

    def query(self) -> dict[str, str]:
        """``vid``, ``since`` and ``epoch`` for the next connection, as far as known."""
        query: dict[str, str] = {}
        if self.viewer_token:
            query["vid"] = self.viewer_token
        if self.epoch is not None and self.seq is not None:
            query["since"] = str(self.seq)
            query["epoch"] = self.epoch
        return query

    def command(self, cmd: str, args: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """A fresh command id and the frame to send."""
        if "id" in args or "cmd" in args:
            raise ValueError("id and cmd are not command arguments")
        cid = next(self._ids)
        return cid, {"id": cid, "cmd": cmd, **args}

    def receive(self, frame: Mapping[str, Any]) -> list[Event | Reply]:
        """One decoded server frame as what it carries, in order (the module docstring lists
        them). Raises ``ValueError`` for a frame it cannot read, and then changes nothing.
        """
        kind = frame.get("t")
        if kind == "reply":
            return [Reply.from_wire(frame)]
        if kind == "snapshot":
            return self._snapshot(Snapshot.from_wire(frame))
        if kind == "resume":
            return self._resume(frame)
        if kind == "batch":
            return self._batch(frame)
        return []

    def _snapshot(self, snapshot: Snapshot) -> list[Event | Reply]:
        first = self.snapshot is None
        self.snapshot = snapshot
        self._joined(snapshot.epoch, snapshot.seq, snapshot.you)
        return [] if first else [Reset(snapshot)]

    def _resume(self, frame: Mapping[str, Any]) -> list[Event | Reply]:
        try:
            epoch, seq = str(frame["epoch"]), frame["seq"]
            you = You.from_wire(frame["you"])
            raw = frame.get("events") or []
            live = dict(frame.get("live") or {})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed resume: {exc}") from exc
        if not isinstance(seq, int) or not isinstance(raw, list):
            raise ValueError("malformed resume")
        events = [read_event(e) for e in raw]
        since = self.seq if self.seq is not None else 0
        if epoch != self.epoch:
            raise ValueError("resume in another epoch")  # the server never does this
        new = self._after_position(events)
        self._joined(epoch, self.seq if self.seq is not None else seq, you)
        return [Resumed(epoch, since, seq, you, live), *new]

    def _batch(self, frame: Mapping[str, Any]) -> list[Event | Reply]:
        raw = frame.get("events") or []
        if not isinstance(raw, list):
            raise ValueError("batch: events must be a list")
        out: list[Event | Reply] = list(self._after_position([read_event(e) for e in raw]))
        live = frame.get("live")
        if isinstance(live, dict) and live:
            out.append(LiveChanged(live))
        skipped = frame.get("skipped")
        if isinstance(skipped, int) and skipped > 0:
            out.append(Skipped(skipped))
        return out

    def _after_position(self, events: list[RoomEvent]) -> list[RoomEvent]:
        """The events past the position, which moves to the last of them."""
        new: list[RoomEvent] = []
        for event in events:
            if self.seq is None or event.seq > self.seq:
                new.append(event)
                self.seq = event.seq
        return new

    def _joined(self, epoch: str, seq: int, you: You) -> None:
        self.epoch, self.seq, self.you = epoch, seq, you
        self.viewer_token = you.token


BACKOFF_MIN = 0.5
BACKOFF_MAX = 10.0
JITTER = 0.3


class Backoff:
    """The protocol's reconnect delays: 0.5 s doubling to 10 s, each plus up to 30 %
    jitter (the pages use the same). ``reset()`` after a connection got its first frame.
    ``rand`` returns a float in [0, 1)."""

    def __init__(
        self,
        first: float = BACKOFF_MIN,
        limit: float = BACKOFF_MAX,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < first <= limit:
            raise ValueError("backoff: need 0 < first <= limit")
        self.first = first
        self.limit = limit
        self._rand = rand
        self._next = first

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the following one."""
        delay = self._next * (1 + self._rand() * JITTER)
        self._next = min(self._next * 2, self.limit)
        return delay

    def reset(self) -> None:
        """Start again from the first delay (after a connection got its first frame)."""
        self._next = self.first
