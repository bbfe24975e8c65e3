"""The commands one ``livecart loadtest`` client process sends on its viewers'
connections, and the replies matched to them by id.

Replies to ``buy`` and ``pay`` go to the buyers (``loadtest.buyers``) through
``on_purchase_reply``; the others are counted here: ``<kind>_ok`` or an error
``<kind>:<code>``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from livecart.loadtest.worker_counts import WorkerCounts
from livecart.loadtest.wsclient import Viewer

PURCHASE_KINDS = ("buy", "pay")

# (viewer, command id, the reply frame)
PurchaseReply = Callable[[int, int, dict[str, Any]], None]


def _ignore(viewer: int, cid: int, frame: dict[str, Any]) -> None:
    """Until the buyers are wired in there are no purchase commands to reply to."""


class Commands:
    """The commands one client process has in flight (id -> kind and viewer), sent on the
    crowd's current connections with ids of its own, and the counters of their replies."""

    def __init__(self, conns: Mapping[int, Viewer], counts: WorkerCounts) -> None:
        self.conns = conns  # the crowd's current connections, by viewer
        self.counts = counts
        self.inflight: dict[int, tuple[str, int]] = {}  # command id -> (kind, viewer)
        self.on_purchase_reply: PurchaseReply = _ignore
        self._ids = itertools.count(1)

    def send(self, i: int, kind: str, command: dict[str, Any]) -> int | None:
        """Send ``command`` on viewer ``i``'s connection; its id, or None if not sent."""
        v = self.conns.get(i)
        if v is None or not v.open:
            return None
        cid = next(self._ids)
        if not v.send({"id": cid, **command}):
            return None
        self.inflight[cid] = (kind, i)
        self.counts.count["commands"] += 1
        self.counts.count[kind + "_sent"] += 1
        return cid

    def abandon(self, i: int) -> None:
        """Viewer ``i`` closes its connection on purpose (a join storm's wave): what it
        had in flight will get no reply; count it as ``<kind>_abandoned``, not lost."""
        gone = [cid for cid, (_, viewer) in self.inflight.items() if viewer == i]
        for cid in gone:
            kind, _ = self.inflight.pop(cid)
            self.counts.count[kind + "_abandoned"] += 1

    def on_reply(self, viewer: Viewer, frame: dict[str, Any]) -> None:
        """A reply frame read on ``viewer``'s connection: matched to its command by id
        (``reply:unknown`` when none is in flight), then handed to the buyers for ``buy``
        and ``pay``, or counted as ``<kind>_ok`` or ``<kind>:<code>``."""
        cid = frame.get("id")
        entry = self.inflight.pop(cid, None)  # type: ignore[arg-type]
        if entry is None:
            self.counts.errors["reply:unknown"] += 1
            return
        kind, i = entry
        if kind in PURCHASE_KINDS:
            self.on_purchase_reply(i, cid, frame)  # type: ignore[arg-type]
        elif frame.get("ok"):
            self.counts.count[kind + "_ok"] += 1
        else:
            code = str((frame.get("error") or {}).get("code", "?"))
            self.counts.errors[f"{kind}:{code}"] += 1
