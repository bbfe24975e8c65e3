"""``RoomStore`` (``livecart.chat.store``) in this process's memory: the contract without
Redis, for running the hub's rules fast in tests and for reading what the contract asks
of a store in plain Python.

``MemoryDatastore`` plays the part of one Redis: the rooms, the shared values and the
clock. Each node gets its own ``MemoryRoomStore(datastore, node_id)`` over it, as each
node gets its own ``RedisRoomStore`` over the same Redis, so several hubs in one process
share rooms, presence and feeds.

How the contract is kept:
- Every method runs without awaiting anything, so nothing else runs in the middle of a
  call: ``emit`` (room check, chat budget, writes, next ``seq``, history entry,
  publication) and ``load`` are atomic on a single event loop, as the Redis scripts and
  MULTI/EXEC are. The history holds ``HISTORY`` JSON records, the same bytes the Redis
  store keeps, so a round trip through it changes an event exactly as Redis would.
- The chat budget, slow mode, presence expiry and the TTLs of the Redis keys (chat
  buckets, banned addresses, explain requests) run on the datastore's ``clock``
  (seconds, ``time.time`` unless injected): a test moves time instead of sleeping.
- Epochs are ``<server>-<n>`` from a counter, so a run is deterministic; ``server`` is
  the instance's identity that ``Head`` reports. The viewer-token ``secret`` is random,
  created once per datastore, as on Redis.
- The feed: a publication is queued, at once, on every connected feed subscribed to the
  room, and ``MemoryFeed.run`` hands the queue to its listener in order; a feed that is
  not running hears nothing (events are lost, never replayed).
- ``MemoryDatastore.go_away()`` makes every call raise ``StoreUnavailable`` (nothing
  written) and disconnects every feed; ``come_back()`` reconnects them and calls each
  listener's ``on_reconnect``, as ``livecart.pubsub`` does after a Redis restart.

What it leaves out: the per-show event log (``chat.show_log`` is a Redis adapter; here
no show is ever logged, so ``log_stock`` returns ``stock``) and durability (the data
lives as long as the ``MemoryDatastore``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from livecart.chat.chat_rules import BUCKET_IDLE_MS
from livecart.chat.errors import CommandError, ErrorCode, RoomNotFound, StoreUnavailable
from livecart.chat.events import MODERATION, ChatDeleted, RoomEvent, event_from_wire, tombstone
from livecart.chat.room_state import HISTORY, RoomState
from livecart.chat.store import (
    BANNED_ADDRESSES_TTL,
    PRESENCE_STALE_MS,
    ChatBudget,
    FeedListener,
    Head,
    Presence,
    SaveLineup,
    SaveModeration,
    SavePin,
    SaveProduct,
    SaveRoomField,
    Write,
)
from livecart.limits import MAX_BANNED_ADDRESSES

# The same bounds and lifetimes as ``chat.store_redis`` (seconds here).
PRESENCE_STALE = PRESENCE_STALE_MS / 1000
BUDGET_TTL = BUCKET_IDLE_MS / 1000
EXPLAIN_TTL = 86_400.0  # chat/lua/explain.lua's EXPIRE
EXPLAIN_RANKED = 20


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@dataclass(slots=True)
class _Bucket:
    """A viewer's or an address's chat bucket (the Redis hash ``tokens``, ``ts``, ``last``)."""

    tokens: float
    ts: float
    last: float | None
    expires: float

    def level(self, now: float, rate: float, burst: float) -> float:
        return min(burst, self.tokens + max(0.0, now - self.ts) * rate)


@dataclass(slots=True)
class _Room:
    """What a created room keeps (the Redis keys of its hash tag but presence, hearts and
    the explain queue, which exist without a room record, as on Redis)."""

    meta: dict[str, str]
    catalog: dict[str, str] = field(default_factory=dict)  # product id -> JSON
    lineup: str | None = None  # JSON list
    pinned: str | None = None
    muted: set[str] = field(default_factory=set)
    banned: set[str] = field(default_factory=set)
    words: str | None = None  # JSON list
    history: deque[str] = field(default_factory=lambda: deque(maxlen=HISTORY))
    budgets: dict[str, _Bucket] = field(default_factory=dict)  # "v:<vid>" / "a:<digest>"
    banned_addr: dict[str, str] = field(default_factory=dict)  # digest -> vid
    banned_addr_expires: float = 0.0


@dataclass(slots=True)
class _Explain:
    who: set[str]
    expires: float


class MemoryDatastore:
    """One process's stand-in for Redis: what every ``MemoryRoomStore`` over it shares."""

    def __init__(self, clock: Callable[[], float] = time.time, server: str = "memory") -> None:
        self.clock = clock
        """Seconds since the epoch, as the datastore reads its time (Redis' ``TIME``)."""
        self.server = server
        self.away = False
        """While True every call raises ``StoreUnavailable`` (``go_away``/``come_back``)."""
        self._rooms: dict[str, _Room] = {}
        self._seqs: dict[str, int] = {}
        self._hearts: dict[str, int] = {}
        self._presence: dict[str, dict[str, tuple[int, float]]] = {}  # node -> (n, at)
        self._explain: dict[str, dict[str, _Explain]] = {}
        self._rank: dict[str, dict[str, int]] = {}
        self._shared: dict[str, str] = {}
        self._epochs = 0
        self._feeds: list[MemoryFeed] = []

    def go_away(self) -> None:
        """The datastore is unreachable from now on: calls fail, feeds disconnect."""
        self.away = True
        for feed in self._feeds:
            feed.lose()

    def come_back(self) -> None:
        """The datastore is reachable again, with its data; feeds reconnect."""
        self.away = False
        for feed in self._feeds:
            feed.regain()

    def new_epoch(self) -> str:
        """A fresh epoch, unique within this datastore."""
        self._epochs += 1
        return f"{self.server}-{self._epochs}"

    def publish(self, room_id: str, message: tuple[str, Any]) -> None:
        """Hand a message of ``room_id`` to every feed (each drops it unless subscribed and
        connected)."""
        for feed in self._feeds:
            feed.offer(room_id, message)


class MemoryRoomStore:
    """Implements ``livecart.chat.store.RoomStore`` on a ``MemoryDatastore``."""

    def __init__(self, datastore: MemoryDatastore | None = None, node_id: str = "node-m") -> None:
        self.datastore = datastore if datastore is not None else MemoryDatastore()
        self._node_id = node_id
        self.unavailable = 0
        """Calls refused because the datastore was away (as ``RedisRoomStore`` counts)."""

    @contextmanager
    def _reachable(self) -> Iterator[MemoryDatastore]:
        if self.datastore.away:
            self.unavailable += 1
            raise StoreUnavailable()
        yield self.datastore

    def _room(self, room_id: str) -> _Room:
        room = self.datastore._rooms.get(room_id)
        if room is None:
            raise RoomNotFound(room_id)
        return room

    @property
    def node_id(self) -> str:
        """This node's id (``RoomStore.node_id``)."""
        return self._node_id

    def feed(self, listener: FeedListener) -> MemoryFeed:
        """A new feed for ``listener`` over this datastore (``RoomStore.feed``)."""
        feed = MemoryFeed(listener)
        self.datastore._feeds.append(feed)
        return feed

    def _shared_value(self, key: str, new: str) -> str:
        with self._reachable() as data:
            return data._shared.setdefault(key, new)

    async def secret(self) -> bytes:
        """The secret shared by every store over this datastore (``RoomStore.secret``)."""
        return self._shared_value("secret", secrets.token_hex(32)).encode()

    async def admin_token(self, new: str) -> str:
        """The stored admin token, ``new`` if none was stored (``RoomStore.admin_token``)."""
        return self._shared_value("admin_token", new)

    async def create_room(
        self, room_id: str, *, title: str, host: str, host_token_hash: str, commission_rate: float
    ) -> bool:
        """Create the room with a new epoch and seq 0; False when it exists
        (``RoomStore.create_room``)."""
        with self._reachable() as data:
            if room_id in data._rooms:
                return False
            data._rooms[room_id] = _Room(
                meta={
                    "id": room_id,
                    "title": title,
                    "host": host,
                    "status": "scheduled",
                    "slow_mode": "0",
                    "epoch": data.new_epoch(),
                    "host_token_sha": host_token_hash,
                    "commission_rate": repr(commission_rate),
                    "created": str(int(data.clock() * 1000)),
                }
            )
            data._seqs.setdefault(room_id, 0)
        return True

    async def meta(self, room_id: str) -> dict[str, str]:
        """The room record, empty when there is no such room (``RoomStore.meta``)."""
        with self._reachable() as data:
            room = data._rooms.get(room_id)
            return dict(room.meta) if room is not None else {}

    async def room_ids(self) -> list[str]:
        """Every room's id, sorted (``RoomStore.room_ids``)."""
        with self._reachable() as data:
            return sorted(data._rooms)

    async def load(self, room_id: str) -> tuple[RoomState, int]:
        """The room's state as of its current seq, and its hearts total
        (``RoomStore.load``). Raises ``RoomNotFound``."""
        with self._reachable() as data:
            room = self._room(room_id)
            meta = room.meta
            state = RoomState(room_id=room_id, epoch=meta.get("epoch", ""))
            state.title = meta.get("title", "")
            state.host = meta.get("host", "")
            state.status = meta.get("status", "scheduled")
            state.slow_mode = int(meta.get("slow_mode", 0))
            state.lang = meta.get("lang", "")
            state.products = {pid: json.loads(p) for pid, p in room.catalog.items()}
            order = json.loads(room.lineup) if room.lineup else []
            state.lineup = [p for p in order if p in state.products]
            state.lineup += [p for p in sorted(state.products) if p not in state.lineup]
            state.pinned = room.pinned
            state.muted = set(room.muted)
            state.banned = set(room.banned)
            state.set_banned_words(json.loads(room.words) if room.words else [])
            state.seq = data._seqs.get(room_id, 0)
            state.restore_history([json.loads(e) for e in room.history])
            return state, data._hearts.get(room_id, 0)

    def _head(self, room_id: str) -> Head:
        data = self.datastore
        room = data._rooms.get(room_id)
        epoch = room.meta.get("epoch", "") if room is not None else None
        return Head(epoch, data._seqs.get(room_id, 0), data.server)

    async def head(self, room_id: str) -> Head:
        """The room's epoch, seq and this datastore's identity (``RoomStore.head``)."""
        with self._reachable():
            return self._head(room_id)

    async def renew_epoch(self, room_id: str, epoch: str) -> str | None:
        """Give the room a new epoch if it still has ``epoch``; the epoch afterwards, None
        without the room (``RoomStore.renew_epoch``)."""
        with self._reachable() as data:
            room = data._rooms.get(room_id)
            if room is None:
                return None
            if room.meta.get("epoch") == epoch:
                room.meta["epoch"] = data.new_epoch()
            return room.meta["epoch"]

    async def emit(
        self,
        room_id: str,
        event: RoomEvent,
        writes: tuple[Write, ...] = (),
        budget: ChatBudget | None = None,
    ) -> int:
        """Check the budget, apply the writes, take the next seq, append to the history and
        publish, all at once or not at all (``RoomStore.emit``); returns the seq."""
        with self._reachable() as data:
            room = self._room(room_id)
            if budget is not None:
                self._take_budget(room, budget, data.clock())
            for w in writes:
                _apply_write(room, w)
            if isinstance(event, ChatDeleted):  # the message's text leaves the history
                _redact(room, tombstone(event))
            seq = data._seqs.get(room_id, 0) + 1
            data._seqs[room_id] = seq
            record = _dump({"seq": seq, **event.to_record()})
            room.history.append(record)
            data.publish(room_id, ("event", record))
            return seq

    @staticmethod
    def _take_budget(room: _Room, budget: ChatBudget, now: float) -> None:
        """Check the address ban, slow mode and both buckets, then take a token from each
        (``RoomStore.emit``); a refusal raises ``CommandError`` and takes nothing."""
        digest = budget.address or ""
        if digest and now < room.banned_addr_expires and digest in room.banned_addr:
            raise CommandError(ErrorCode.BANNED, "you are banned from this room")
        live = {k: b for k, b in room.budgets.items() if b.expires > now}
        room.budgets = live
        viewer = live.get(f"v:{budget.vid}")
        slow = int(room.meta.get("slow_mode", "0") or 0)
        last = viewer.last if viewer is not None else None
        if slow > 0 and last is not None and now - last < slow:
            wait = slow - (now - last)
            raise CommandError(ErrorCode.SLOW_MODE, "slow mode is on", retry_after=wait)
        vrate, vburst = budget.viewer_rate, budget.viewer_burst
        vt = viewer.level(now, vrate, vburst) if viewer is not None else vburst
        if vt < 1:
            wait = (1 - vt) / vrate
            raise CommandError(ErrorCode.RATE_LIMITED, "too many messages", retry_after=wait)
        if digest and budget.address_rate > 0:
            arate, aburst = budget.address_rate, budget.address_burst
            held = live.get(f"a:{digest}")
            at = held.level(now, arate, aburst) if held is not None else aburst
            if at < 1:
                wait = (1 - at) / arate
                raise CommandError(ErrorCode.RATE_LIMITED, "too many messages", retry_after=wait)
            live[f"a:{digest}"] = _Bucket(at - 1, now, None, now + BUDGET_TTL)
        live[f"v:{budget.vid}"] = _Bucket(vt - 1, now, now, now + BUDGET_TTL)

    async def set_banned_words(self, room_id: str, words: list[str]) -> None:
        """Store the banned words and tell every node (``RoomStore.set_banned_words``)."""
        with self._reachable() as data:
            self._room(room_id).words = json.dumps(words)
            data.publish(room_id, ("words", list(words)))

    async def ban_addresses(self, room_id: str, vid: str, digests: list[str]) -> None:
        """Record the digests a still-banned ``vid`` was seen on, bounded and expiring
        (``RoomStore.ban_addresses``)."""
        if not digests:
            return
        with self._reachable() as data:
            room = data._rooms.get(room_id)
            if room is None or vid not in room.banned:
                return
            now = data.clock()
            if now >= room.banned_addr_expires:
                room.banned_addr.clear()
            for digest in digests:
                if len(room.banned_addr) >= MAX_BANNED_ADDRESSES:
                    break
                room.banned_addr[digest] = vid
            room.banned_addr_expires = now + BANNED_ADDRESSES_TTL

    async def address_banned(self, room_id: str, digest: str) -> bool:
        """Whether a banned viewer was seen on this digest (``RoomStore.address_banned``)."""
        with self._reachable() as data:
            room = data._rooms.get(room_id)
            if room is None or data.clock() >= room.banned_addr_expires:
                return False
            return digest in room.banned_addr

    async def history_after(self, room_id: str, seq: int) -> list[RoomEvent]:
        """The events after ``seq`` still in the history, in order
        (``RoomStore.history_after``)."""
        with self._reachable() as data:
            room = data._rooms.get(room_id)
            records = list(room.history) if room is not None else []
        events = [event_from_wire(json.loads(e)) for e in records]
        return [e for e in events if e.seq > seq]

    async def presence(self, room_id: str, local_viewers: int) -> Presence:
        """Report this node's viewers and read back the room's live values and head
        (``RoomStore.presence``)."""
        with self._reachable() as data:
            now = data.clock()
            nodes = data._presence.setdefault(room_id, {})
            if local_viewers > 0:
                nodes[self._node_id] = (local_viewers, now)
            else:
                nodes.pop(self._node_id, None)
            for node, (_, at) in list(nodes.items()):
                if at < now - PRESENCE_STALE:
                    del nodes[node]
            total = sum(n for n, _ in nodes.values())
            rank = data._rank.get(room_id, {})
            # ZREVRANGE: highest count first, ties in reverse order of the product id
            ranked = sorted(rank.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
            explain = [[pid, n] for pid, n in ranked[:EXPLAIN_RANKED]]
            return Presence(total, explain, data._hearts.get(room_id, 0), self._head(room_id))

    async def log_stock(
        self, room_id: str, stock: Mapping[str, int], now_ms: int, gap_ms: int
    ) -> dict[str, int]:
        """Return ``stock`` as it is: this store logs no show (``RoomStore.log_stock``)."""
        with self._reachable():
            return {pid: int(units) for pid, units in stock.items()}  # no show is logged

    async def viewers(self, room_id: str) -> int:
        """Viewers on every node, as last reported (``RoomStore.viewers``)."""
        with self._reachable() as data:
            return sum(n for n, _ in data._presence.get(room_id, {}).values())

    async def add_hearts(self, counts: dict[str, int]) -> None:
        """Add to each room's hearts total and tell every node (``RoomStore.add_hearts``)."""
        with self._reachable() as data:
            for room_id, n in counts.items():
                total = data._hearts.get(room_id, 0) + n
                data._hearts[room_id] = total
                data.publish(room_id, ("hearts", (n, total)))

    async def explain(self, room_id: str, product_id: str, vid: str) -> int:
        """Count ``vid``'s request once per product and return the count
        (``RoomStore.explain``)."""
        with self._reachable() as data:
            now = data.clock()
            asked = data._explain.setdefault(room_id, {})
            held = asked.get(product_id)
            if held is None or held.expires <= now:
                held = asked[product_id] = _Explain(set(), 0.0)
            rank = data._rank.setdefault(room_id, {})
            if vid in held.who:
                return rank.get(product_id, 0)
            held.who.add(vid)
            held.expires = now + EXPLAIN_TTL
            rank[product_id] = rank.get(product_id, 0) + 1
            return rank[product_id]

    async def clear_explain(self, room_id: str, product_id: str) -> None:
        """Forget a product's explain requests (``RoomStore.clear_explain``)."""
        with self._reachable() as data:
            data._explain.get(room_id, {}).pop(product_id, None)
            data._rank.get(room_id, {}).pop(product_id, None)


def _apply_write(room: _Room, w: Write) -> None:
    """One write of an emit (``chat.store``'s ``Write``) on the room."""
    if isinstance(w, SaveProduct):
        room.catalog[w.product["id"]] = json.dumps(dict(w.product))
    elif isinstance(w, SaveLineup):
        room.lineup = json.dumps(list(w.lineup))
    elif isinstance(w, SavePin):
        room.pinned = w.product_id
    elif isinstance(w, SaveModeration):
        name, joins = MODERATION[w.action]
        members = room.muted if name == "muted" else room.banned
        if joins:
            members.add(w.vid)
        else:
            members.discard(w.vid)
        if w.action == "unban":  # the unbanned viewer's addresses are forgotten
            room.banned_addr = {d: v for d, v in room.banned_addr.items() if v != w.vid}
    elif isinstance(w, SaveRoomField):
        room.meta[w.name] = str(w.value)


def _redact(room: _Room, gone: ChatDeleted) -> None:
    """Replace the deleted chat message's history record by its tombstone."""
    for i, held in enumerate(room.history):
        record = json.loads(held)
        if record.get("seq") == gone.seq:
            if record.get("type") == "chat":
                room.history[i] = _dump({"seq": gone.seq, **gone.to_record()})
            return


class MemoryFeed:
    """Implements ``livecart.chat.store.RoomFeed``: the datastore queues each publication
    of a subscribed room here while the feed runs; ``run`` hands them on in order."""

    def __init__(self, listener: FeedListener) -> None:
        self._listener = listener
        self._rooms: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, tuple[str, Any]]] = asyncio.Queue()
        self._connected = asyncio.Event()
        self._running = False
        self._away = False
        self.received = 0
        self.reconnects = 0
        self.losses = 0

    @property
    def connected(self) -> bool:
        """True while the datastore is reachable and ``run`` has started."""
        return self._connected.is_set()

    def offer(self, room_id: str, message: tuple[str, Any]) -> None:
        """Queue a publication if the feed is connected and subscribed to ``room_id``."""
        if self.connected and room_id in self._rooms:
            self._queue.put_nowait((room_id, message))

    def lose(self) -> None:
        """The datastore went away: disconnect and lose whatever was on the way."""
        self._away = True
        if self.connected:
            self.losses += 1
            self._connected.clear()
            while not self._queue.empty():  # what was on the way is lost
                self._queue.get_nowait()

    def regain(self) -> None:
        """The datastore is back: reconnect and have ``run`` call ``on_reconnect``."""
        self._away = False
        if self._running and not self.connected:
            self.reconnects += 1
            self._connected.set()
            self._queue.put_nowait(("", ("reconnect", None)))

    async def run(self) -> None:
        """Hand queued publications to the listener in order until cancelled."""
        self._running = True
        if not self._away:
            self._connected.set()
        try:
            while True:
                room_id, (kind, body) = await self._queue.get()
                if kind == "reconnect":
                    await self._listener.on_reconnect()
                    continue
                self.received += 1
                if kind == "event":
                    self._listener.on_event(room_id, event_from_wire(json.loads(body)))
                elif kind == "hearts":
                    self._listener.on_hearts(room_id, *body)
                else:
                    self._listener.on_words(room_id, body)
        finally:
            self._running = False
            self._connected.clear()

    async def wait_connected(self, timeout: float) -> None:
        """Return once connected. Raises ``TimeoutError``."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def subscribe(self, room_id: str) -> None:
        """Start hearing ``room_id`` (confirmed at once)."""
        self._rooms.add(room_id)

    def unsubscribe(self, room_id: str) -> None:
        """Stop hearing ``room_id``."""
        self._rooms.discard(room_id)
