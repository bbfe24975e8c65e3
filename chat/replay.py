"""A show's recorded events, read back for replay: chapters, state at a moment, chat.

Pure: plain dicts in, plain dicts out. The input is what ``chat.show_log`` keeps:
the *state log* (a ``snapshot`` record of the room when the show began, then every
non-chat event in order) and windows of the *chat log*. Times are server
milliseconds (each event's ``ts``); the caller maps them to media time.

- :func:`chapters`: one per ``pin`` event of a product (its n-th pin, counted
  from 0 per product), ending at the next pin or unpin of any product, or at the end.
- :func:`state_at`: the pinned product, products and sales as they were at ``ts``; a
  ``stock`` record (sampled units left, ``{"stock": {product: units}}``) sets the
  ``units_left`` of the product's sale, the stock label viewers saw.
- :func:`deleted_ids`: chat ids a ``chat_deleted`` event removed; :func:`visible_chat`
  drops those messages, so a deleted message stays deleted in replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Chapter:
    """The host explaining ``product_id`` from ``start_ms`` to ``end_ms`` (None: to the end)."""

    product_id: str
    n: int
    start_ms: float
    end_ms: float | None

    @property
    def key(self) -> str:
        """``<product>:<n>``, the name a host hides a chapter by."""
        return f"{self.product_id}:{self.n}"


def chapters(state_log: Sequence[Mapping[str, Any]]) -> list[Chapter]:
    """Every pin of the show as a chapter, in time order."""
    out: list[Chapter] = []
    counts: dict[str, int] = {}
    open_pin: tuple[str, float] | None = None

    def close(at: float | None) -> None:
        nonlocal open_pin
        if open_pin is not None:
            pid, start = open_pin
            n = counts.get(pid, 0)
            counts[pid] = n + 1
            out.append(Chapter(pid, n, start, at))
            open_pin = None

    for record in state_log:
        if record.get("type") == "snapshot":
            pinned = record.get("pinned")
            if isinstance(pinned, str):
                open_pin = (pinned, float(record.get("ts", 0)))
        elif record.get("type") == "pin":
            pid = record.get("product_id")
            if open_pin is not None and pid == open_pin[0]:
                continue  # pinned again while pinned: the same explanation
            close(float(record.get("ts", 0)))
            if isinstance(pid, str):
                open_pin = (pid, float(record.get("ts", 0)))
    close(None)
    return out


def state_at(state_log: Iterable[Mapping[str, Any]], ts: float) -> dict[str, Any]:
    """``{"pinned": id | None, "products": {id: product}, "lineup": [...],
    "sales": {id: sale}}`` after every state event up to ``ts`` (inclusive)."""
    state: dict[str, Any] = {"pinned": None, "products": {}, "lineup": [], "sales": {}}
    for record in state_log:
        if float(record.get("ts", 0)) > ts and record.get("type") != "snapshot":
            break
        apply(state, record)
    return state


def apply(state: dict[str, Any], record: Mapping[str, Any]) -> None:
    """Apply one state-log record to a :func:`state_at` dict (in place)."""
    kind = record.get("type")
    if kind == "snapshot":
        state["pinned"] = record.get("pinned")
        state["products"] = dict(record.get("products") or {})
        state["lineup"] = list(record.get("lineup") or [])
        state["sales"] = dict(record.get("sales") or {})
    elif kind == "pin":
        pid = record.get("product_id")
        state["pinned"] = pid if isinstance(pid, str) else None
    elif kind == "product":
        product = record.get("product")
        if isinstance(product, Mapping) and isinstance(product.get("id"), str):
            state["products"][product["id"]] = dict(product)
    elif kind == "lineup":
        state["lineup"] = list(record.get("lineup") or [])
    elif kind == "sale":
        pid, sale = record.get("product_id"), record.get("sale")
        if isinstance(pid, str):
            if isinstance(sale, Mapping):
                state["sales"][pid] = dict(sale)
            else:
                state["sales"].pop(pid, None)
    elif kind == "stock":
        stock = record.get("stock")
        if isinstance(stock, Mapping):
            for pid, units in stock.items():
                sale = state["sales"].get(pid)
                if isinstance(sale, Mapping) and isinstance(units, int):
                    state["sales"][pid] = {**sale, "units_left": units}  # never in place


def deleted_ids(state_log: Iterable[Mapping[str, Any]]) -> set[int]:
    """Chat ids (seqs) removed by a ``chat_deleted`` event."""
    return {
        int(r["id"])
        for r in state_log
        if r.get("type") == "chat_deleted" and isinstance(r.get("id"), int)
    }


def visible_chat(
    chat: Iterable[Mapping[str, Any]], deleted: set[int], from_ms: float, to_ms: float
) -> list[dict[str, Any]]:
    """The chat records with ``from_ms <= ts < to_ms`` that were not deleted, as wire
    dicts (``id`` = seq)."""
    out = []
    for record in chat:
        ts = float(record.get("ts", 0))
        seq = record.get("seq")
        if ts < from_ms or ts >= to_ms or seq in deleted:
            continue
        out.append({**record, "id": seq})
    return out
