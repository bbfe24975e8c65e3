"""The hub's store contract: what the hub and the web layer may ask of the datastore.

``RoomStore`` is the contract; ``livecart.chat.store_redis.RedisRoomStore`` implements it
on one Redis or a Redis Cluster, ``livecart.chat.store_memory.MemoryRoomStore`` in one
process's memory (for tests); ``tests/store_contract.py`` holds the tests both pass. The
hub gets a store injected (``web.app`` builds it); nothing outside the implementation sees
Redis or a key name.

Guarantees every implementation gives:

- **Atomic emit.** ``emit`` applies the writes it carries, takes the room's next
  ``seq``, appends the event to the room's history and publishes it to every node, all
  together or not at all. Sequence numbers per room are 1, 2, 3, ... with no gaps; the
  history keeps the last ``HISTORY`` events.
- **Consistent load.** ``load`` returns a state and a ``seq`` that agree: applying every
  event published after ``seq`` to that state gives the room as it is.
- **Epoch.** A room's ``epoch`` (``meta()["epoch"]``, ``RoomState.epoch``) is set when
  the room is created and names its sequence: while it is unchanged, ``seq`` only grows
  and the history holds what was published under it, so a client's (epoch, seq) can be
  resumed only against the same epoch. When the datastore breaks that (it came back
  from an older copy), the first node to notice calls ``renew_epoch``.
- **Feed.** Events reach every subscribed node's ``FeedListener`` in ``seq`` order per
  room, at most once; while the feed is disconnected events are lost, and
  ``on_reconnect`` is called once it is back, so the listener fills gaps from
  ``history_after``.
- **Head.** ``head`` (and every ``presence``, at no extra cost) reads the room's epoch and
  ``seq`` and the identity of the datastore instance that holds it (``server``: Redis'
  ``run_id``, new after every restart or failover) in one round trip, so a node can tell
  that its copy of a room is no longer a prefix of the stored room: a missing room, a
  different epoch, a ``seq`` below the one it applied, or a new ``server`` (which may
  have come back from an older copy of the data, so the node checks its last event
  against the history; ``livecart.chat.staleness``).
- **Errors.** Every call may raise ``StoreUnavailable`` when the datastore cannot be
  reached (nothing was written then, or for ``emit`` possibly the event, which every
  node then sees as usual); ``RoomNotFound`` where the method says so. Nothing retries
  on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from livecart.chat.chat_rules import VIEWER_BURST, VIEWER_RATE
from livecart.chat.events import RoomEvent
from livecart.chat.room_state import RoomState

# Lifetimes every implementation keeps alike (the Redis store renders them into its calls).
PRESENCE_STALE_MS = 5000
"""A node's viewer count not refreshed this long no longer counts in the room's total."""
BANNED_ADDRESSES_TTL = 86_400
"""Seconds a room's banned addresses are kept after its last ban."""

# -- writes an emit carries (the room state kept besides the history) ---------------------


@dataclass(frozen=True, slots=True)
class SaveProduct:
    """Store a product of the catalog (added or edited)."""

    product: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SaveLineup:
    """Store the lineup order."""

    lineup: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SavePin:
    """Store the pinned product (None: nothing pinned)."""

    product_id: str | None


@dataclass(frozen=True, slots=True)
class SaveModeration:
    """Mute, unmute, ban or unban ``vid`` (``events.MODERATION``)."""

    action: str
    vid: str


@dataclass(frozen=True, slots=True)
class SaveRoomField:
    """Store one field of the room record."""

    name: Literal["status", "slow_mode", "lang"]
    value: str | int


Write = SaveProduct | SaveLineup | SavePin | SaveModeration | SaveRoomField


@dataclass(frozen=True, slots=True)
class ChatBudget:
    """The limits a viewer's chat message is checked against in the store, over every
    process and node: the viewer's bucket (``viewer_rate`` a second, ``viewer_burst``
    saved up) and the room's slow mode, and, when ``address`` (a keyed digest of the
    client address, never the address) is given, that address's bucket and its ban."""

    vid: str
    viewer_rate: float = VIEWER_RATE
    viewer_burst: float = VIEWER_BURST
    address: str | None = None
    address_rate: float = 0.0
    address_burst: float = 0.0


@dataclass(frozen=True, slots=True)
class Head:
    """Where a room stands in the store, read in one round trip: its ``epoch`` (None when
    there is no such room), its last ``seq``, and ``server``, the identity of the
    datastore instance that answered (it changes when that instance restarts or another
    takes over, which may have brought back an older copy of the room)."""

    epoch: str | None
    seq: int
    server: str


@dataclass(frozen=True, slots=True)
class Presence:
    """What ``presence`` reads back: viewers on every node, the explain ranking
    (``[[product_id, requests], ...]``, at most 20, highest first), the hearts total and
    the room's ``Head``, read in the same round trip."""

    viewers: int
    explain: list[list[Any]]
    hearts: int
    head: Head | None = None


class FeedListener(Protocol):
    """What a node hears from its rooms. Callbacks are synchronous, must not block and
    must not raise."""

    def on_event(self, room_id: str, event: RoomEvent) -> None:
        """A sequenced event of ``room_id``."""

    def on_hearts(self, room_id: str, n: int, total: int) -> None:
        """``n`` hearts were tapped on some node; the room's total is now ``total``."""

    def on_words(self, room_id: str, words: list[str]) -> None:
        """The room's banned words changed."""

    async def on_reconnect(self) -> None:
        """The feed was away and is back: events may have been missed."""


class RoomFeed(Protocol):
    """One node's subscription to its rooms' events."""

    @property
    def connected(self) -> bool:
        """True while the feed's connection is up and subscribed (``/healthz``)."""
        ...

    @property
    def received(self) -> int:
        """Messages received so far (for /metrics)."""
        ...

    @property
    def reconnects(self) -> int:
        """Times the feed connected again after a loss (for /metrics)."""
        ...

    @property
    def losses(self) -> int:
        """Times the feed's connection was lost or failed (for /metrics)."""
        ...

    async def run(self) -> None:
        """Deliver to the listener until cancelled, reconnecting by itself."""

    async def wait_connected(self, timeout: float) -> None:
        """Return once connected. Raises ``TimeoutError``."""

    async def subscribe(self, room_id: str) -> None:
        """Start hearing ``room_id``; returns once confirmed, so a state loaded after it
        misses nothing published after the load. Raises ``TimeoutError``."""

    def unsubscribe(self, room_id: str) -> None:
        """Stop hearing ``room_id``."""


class RoomStore(Protocol):
    """The hub's datastore contract: rooms, their sequenced events and the values kept
    beside them, shared by every node.

    Implementations give the guarantees of this module's docstring: ``emit`` is atomic
    (writes, next ``seq``, history entry and publish together or not at all, with ``seq`` 1,
    2, 3, ... per room and no gaps); ``load`` returns a state and ``seq`` that agree; the
    ``epoch`` names a room's sequence and changes only when its history is replaced; the
    feed delivers each room's events in ``seq`` order, at most once. Every method may raise
    ``StoreUnavailable`` when the datastore cannot be reached, and nothing retries on its
    own."""

    @property
    def node_id(self) -> str:
        """This node's id (its presence entry and its feed)."""
        ...

    def feed(self, listener: FeedListener) -> RoomFeed:
        """This node's feed, delivering to ``listener``. Call once per node."""
        ...

    async def secret(self) -> bytes:
        """The cluster-wide secret for viewer tokens (created once, shared by every node)."""
        ...

    async def admin_token(self, new: str) -> str:
        """The install's admin token: ``new`` if none was stored yet, else the stored one,
        so every node gets the same."""
        ...

    async def create_room(
        self, room_id: str, *, title: str, host: str, host_token_hash: str, commission_rate: float
    ) -> bool:
        """Create the room with a new epoch and seq 0; False (nothing changed) when it
        exists already."""
        ...

    async def meta(self, room_id: str) -> dict[str, str]:
        """The room record (id, title, host, status, slow_mode, epoch, host_token_sha,
        commission_rate, created); empty when there is no such room."""
        ...

    async def room_ids(self) -> list[str]:
        """Every room's id, sorted."""
        ...

    async def load(self, room_id: str) -> tuple[RoomState, int]:
        """The room's state as of its current seq, and its total hearts. Raises
        ``RoomNotFound``."""
        ...

    async def head(self, room_id: str) -> Head:
        """The room's epoch (None: no such room) and seq, and the datastore instance's
        identity, in one round trip."""
        ...

    async def renew_epoch(self, room_id: str, epoch: str) -> str | None:
        """Give the room a new epoch if its epoch is still ``epoch``, atomically: for a
        room whose ``seq`` went back under it (a rollback), so that no (epoch, seq) a
        client holds names two different events. Returns the room's epoch afterwards
        (None: no such room)."""
        ...

    async def emit(
        self,
        room_id: str,
        event: RoomEvent,
        writes: tuple[Write, ...] = (),
        budget: ChatBudget | None = None,
    ) -> int:
        """Apply ``writes`` and publish ``event`` (its ``seq`` is ignored) as the room's
        next event, atomically; return its seq. Raises ``RoomNotFound`` (nothing
        written). A ``ChatDeleted`` event also replaces the deleted message in the
        history by its tombstone (``events.tombstone``), in the same atomic step; an
        unban also forgets the unbanned viewer's banned addresses.

        With ``budget``, the same atomic step first checks the address ban, slow mode
        and both buckets and takes a token from each: ``CommandError`` ``banned``,
        ``slow_mode`` or ``rate_limited`` (with ``retry_after``), nothing written."""
        ...

    async def ban_addresses(self, room_id: str, vid: str, digests: list[str]) -> None:
        """Record address digests a banned ``vid`` was seen on (only while ``vid`` is
        still banned; bounded; expires a day after the last ban)."""
        ...

    async def address_banned(self, room_id: str, digest: str) -> bool:
        """Whether a banned viewer was seen on the address of this digest."""
        ...

    async def set_banned_words(self, room_id: str, words: list[str]) -> None:
        """Store the room's banned words and tell every node (``on_words``), not the
        clients. Raises ``RoomNotFound``."""
        ...

    async def history_after(self, room_id: str, seq: int) -> list[RoomEvent]:
        """The events after ``seq`` still in the room's history, in order."""
        ...

    async def presence(self, room_id: str, local_viewers: int) -> Presence:
        """Report this node's viewers of the room (0 removes the entry; entries not
        refreshed for a few seconds expire) and read the room's live values and its
        ``Head`` back."""
        ...

    async def log_stock(
        self, room_id: str, stock: Mapping[str, int], now_ms: int, gap_ms: int
    ) -> dict[str, int]:
        """While a show is logged, append ``{"type": "stock", "stock": {product: units}}``
        (``ts`` = ``now_ms``) to its log for each product whose units differ from the
        last logged and were last logged at least ``gap_ms`` ago, atomically, so that
        every node may call it and each change is logged once. Returns the units now
        logged per product (``stock`` itself when no show is logged); a product whose
        change waits for the gap keeps its old value there, so the caller calls again."""
        ...

    async def viewers(self, room_id: str) -> int:
        """Viewers of the room on every node, as last reported; reports nothing."""
        ...

    async def add_hearts(self, counts: dict[str, int]) -> None:
        """Add each room's hearts to its total and tell every node (``on_hearts``)."""
        ...

    async def explain(self, room_id: str, product_id: str, vid: str) -> int:
        """Count one viewer's "explain this" once per product; return the product's count."""
        ...

    async def clear_explain(self, room_id: str, product_id: str) -> None:
        """Forget a product's explain requests (its count and who asked)."""
        ...
