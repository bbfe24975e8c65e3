"""``RoomStore`` (``livecart.chat.store``) on Redis: room records, the event log, presence,
hearts, the explain queue, and the node's feed over pub/sub.

Every key of a room carries the room's hash tag (``livecart.keyspace.room_key``), so each
script and transaction touches one slot and works unchanged on Redis Cluster. The scripts
are files in ``chat/lua``, one per script after a shared ``prelude.lua``
(``source``; ``livecart.lua_scripts``); each gets every key it touches in ``KEYS``, named
here from ``livecart.keyspace``, and builds no key name itself.

How the contract is kept:
- ``emit`` is one Lua script: it checks the room exists, applies the writes, INCRs
  ``seq``, appends ``{"seq": n, <record>}`` to ``history`` (trimmed to ``HISTORY``) and
  PUBLISHes it as ``E<json>`` on the room's channel (SPUBLISH on a Redis Cluster: the
  channel carries the room's hash tag, so it is published by the shard that ran the
  script, to that shard's subscribers; ``livecart.pubsub`` SSUBSCRIBEs there). While
  meta's ``show_log`` names a show, the same record is appended to that show's log
  (``chat.show_log``; past ``show_log_max`` entries a stream's events are counted, not
  kept). The show's keys are sent with the call: the store sends those of the show it
  last saw logged in the room, and when the script finds another one logged it answers
  ``SHOWLOG <show>`` before any write and is sent again with that show's keys.
  A viewer's chat message (``emit`` with a ``ChatBudget``) is first checked in the same
  script (``chat_budget.lua``, the rule that decides; ``chat.chat_rules`` holds its
  numbers and each node's first filter): the address ban (``banned_addr``), slow mode
  (meta's ``slow_mode``, the viewer's last message) and the viewer's and address's
  token buckets on Redis' ``TIME``; a refusal (``BANNED``, ``SLOWMODE <s>``,
  ``RATELIMITED <s>``) writes nothing and becomes the sender's ``CommandError``. An
  unban's emit also drops that viewer's entries of ``banned_addr``; ``ban_addresses``
  adds them.
- ``log_stock`` is one script (its show's keys sent as for ``emit``): the show's stock
  label, sampled into the same log (at most one record per product per gap, only
  changes, deduplicated across nodes).
  ``set_banned_words`` runs the same script without a seq and publishes ``C<json>``;
  hearts publish ``H<n>:<total>``. A ``chat_deleted`` emit also replaces, in the same
  script, the deleted message's record in ``history`` by its tombstone
  (``events.tombstone``), so the text is gone from every later load, resume and gap
  fill. The feed reads those three kinds back (``_FeedReader``); nothing else knows them.
- ``load`` reads a room in one MULTI/EXEC, so the state and ``seq`` it returns agree.
- ``head`` is one script (meta's epoch, ``seq``, ``INFO server``'s ``run_id``);
  ``presence`` reads the same in its script, so the hub's periodic check costs nothing;
  ``renew_epoch`` is a compare-and-set on meta's epoch.
- redis' ``ConnectionError``/``TimeoutError`` (and ``OSError``) become
  ``StoreUnavailable``; the script's ``NOROOM`` becomes ``RoomNotFound``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any, cast

import redis.asyncio as aioredis

from livecart.chat import chat_rules
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
from livecart.keyspace import (
    ADMIN_TOKEN_KEY,
    NODE_CHANNEL_PREFIX,
    ROOMS_INDEX,
    SECRET_KEY,
    banned_addresses_key,
    chat_budget_key,
    node_channel,
    room_channel,
    room_key,
    room_of_channel,
    show_log_key,
    show_meta_key,
    show_state_key,
)
from livecart.limits import MAX_BANNED_ADDRESSES
from livecart.lua_scripts import compose
from livecart.pubsub import Subscriber
from livecart.redis_client import REDIS_DOWN, AnyRedis, is_cluster, is_full
from livecart.redis_replies import text

log = logging.getLogger(__name__)
_REFUSED = re.compile(r"\b(BANNED|SLOWMODE|RATELIMITED)(?: ([0-9.eE+-]+))?")
_SHOW_MOVED = re.compile(r"\bSHOWLOG ?(\S*)")
MAX_SHOW_TRIES = 4  # a show that changes this often between two calls is a bug

SCRIPTS = (
    "add_hearts",
    "ban_addresses",
    "emit",
    "explain",
    "head",
    "log_stock",
    "presence",
    "renew_epoch",
)
"""The room store's scripts, one file each in ``chat/lua``."""
_LIBRARIES = {"emit": ("chat_budget",)}


@cache
def source(name: str, *, cluster: bool = False) -> str:
    """The full text of script ``name`` as sent to Redis: ``chat/lua/prelude.lua``, with
    the chat limits' numbers rendered in and, on a Redis Cluster, SPUBLISH for PUBLISH;
    then its libraries and its own file (``livecart.lua_scripts``)."""
    return compose(
        "livecart.chat",
        name,
        rendered={
            "__CHAT_LIMITS__": chat_rules.lua_constants(),
            "__PUBLISH__": "SPUBLISH" if cluster else "PUBLISH",
        },
        libraries=_LIBRARIES.get(name, ()),
    )


def _head(raw: list[Any]) -> Head:
    """``head.lua``'s reply (also the last item of ``presence.lua``'s) as a ``Head``."""
    exists, epoch, seq, server = raw
    return Head(text(epoch) if int(exists) else None, int(seq), text(server or b""))


# One Redis command of an emit: ``cmd`` on the room key ``name`` with ``args``.
_Op = tuple[str, str, tuple[str | int, ...]]


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _moderation_op(w: SaveModeration) -> _Op:
    name, joins = MODERATION[w.action]
    return ("SADD" if joins else "SREM", name, (w.vid,))


def _pin_op(w: SavePin) -> _Op:
    return ("SET", "pinned", (w.product_id,)) if w.product_id is not None else ("DEL", "pinned", ())


#: How each write of the contract lands in Redis: one entry per kind of write.
_WRITES: Mapping[type[Any], Callable[[Any], _Op]] = {
    SaveProduct: lambda w: ("HSET", "catalog", (w.product["id"], json.dumps(dict(w.product)))),
    SaveLineup: lambda w: ("SET", "lineup", (json.dumps(list(w.lineup)),)),
    SavePin: _pin_op,
    SaveModeration: _moderation_op,
    SaveRoomField: lambda w: ("HSET", "meta", (w.name, w.value)),
}


def _refusal(reason: str) -> CommandError | None:
    """The emit script's refusal of a chat message as the error the sender gets."""
    found = _REFUSED.search(reason)
    if found is None:
        return None
    kind, wait = found.group(1), float(found.group(2) or 0)
    if kind == "BANNED":
        return CommandError(ErrorCode.BANNED, "you are banned from this room")
    if kind == "SLOWMODE":
        return CommandError(ErrorCode.SLOW_MODE, "slow mode is on", retry_after=wait)
    return CommandError(ErrorCode.RATE_LIMITED, "too many messages", retry_after=wait)


def _op_args(ops: list[_Op], first_key: int) -> list[str | int]:
    """``emit.lua``'s arguments for ``ops``, whose keys are ``KEYS[first_key]`` on."""
    out: list[str | int] = []
    for index, (cmd, _, args) in enumerate(ops, start=first_key):
        out += [cmd, index, len(args), *args]
    return out


def _show_keys(room_id: str, show: str) -> tuple[str, str, str]:
    """A show's log, state log and meta hash, in the order the scripts take them."""
    return show_log_key(room_id, show), show_state_key(room_id, show), show_meta_key(room_id, show)


class _LoggedShows:
    """The show this node last saw logged, per room: what the scripts that write a
    show's log are first sent with. Bounded: past ``MAX`` rooms it starts again (a
    room missing costs one more call when a show is logged there)."""

    MAX = 10_000

    def __init__(self) -> None:
        self._shows: dict[str, str] = {}

    def get(self, room_id: str) -> str:
        return self._shows.get(room_id, "")

    def put(self, room_id: str, show: str) -> None:
        if len(self._shows) >= self.MAX and room_id not in self._shows:
            self._shows.clear()
        self._shows[room_id] = show


class RedisRoomStore:
    """Implements ``livecart.chat.store.RoomStore`` on one Redis (or Redis Cluster)."""

    def __init__(self, redis: AnyRedis, node_id: str) -> None:
        self._redis = redis
        self._node_id = node_id
        self._cluster = is_cluster(redis)
        scripts = {n: redis.register_script(source(n, cluster=self._cluster)) for n in SCRIPTS}
        self._emit = scripts["emit"]
        self._presence = scripts["presence"]
        self._stock = scripts["log_stock"]
        self._explain = scripts["explain"]
        self._hearts = scripts["add_hearts"]
        self._head = scripts["head"]
        self._renew_epoch = scripts["renew_epoch"]
        self._ban_addresses = scripts["ban_addresses"]
        self._shows = _LoggedShows()

        self.unavailable = 0
        """Calls that failed because Redis could not be reached (for /metrics)."""

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """Turn "Redis is away" into the contract's ``StoreUnavailable``, counted."""
        try:
            yield
        except REDIS_DOWN as exc:
            self.unavailable += 1
            raise StoreUnavailable() from exc
        except aioredis.ResponseError as exc:
            if not is_full(exc):  # a full Redis (maxmemory) refused a script's write
                raise
            self.unavailable += 1
            raise StoreUnavailable("datastore full, retry later") from exc

    @property
    def node_id(self) -> str:
        """This node's id (``RoomStore.node_id``)."""
        return self._node_id

    def feed(self, listener: FeedListener) -> RedisFeed:
        """A feed on the node's pub/sub connection for ``listener`` (``RoomStore.feed``)."""
        return RedisFeed(self._redis, self._node_id, listener)

    async def _shared_value(self, key: str, new: str) -> str:
        with self._reachable():
            await self._redis.set(key, new, nx=True)
            value = await self._redis.get(key)
        assert isinstance(value, bytes)
        return value.decode()

    async def secret(self) -> bytes:
        """The cluster-wide secret, created once by the first node (``RoomStore.secret``)."""
        return (await self._shared_value(SECRET_KEY, secrets.token_hex(32))).encode()

    async def admin_token(self, new: str) -> str:
        """The stored admin token, ``new`` if none was stored (``RoomStore.admin_token``)."""
        return await self._shared_value(ADMIN_TOKEN_KEY, new)

    async def create_room(
        self, room_id: str, *, title: str, host: str, host_token_hash: str, commission_rate: float
    ) -> bool:
        """Create the room's record (with a new epoch) and seq 0 unless the room exists,
        then add it to the room index; False when it existed (``RoomStore.create_room``)."""
        meta: dict[str, str | int] = {
            "id": room_id,
            "title": title,
            "host": host,
            "status": "scheduled",
            "slow_mode": 0,
            "epoch": secrets.token_urlsafe(8),
            "host_token_sha": host_token_hash,
            "commission_rate": repr(commission_rate),
            "created": int(time.time() * 1000),
        }
        with self._reachable():
            created = await self._redis.hsetnx(room_key(room_id, "meta"), "id", room_id)
            if not created:
                return False
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(room_key(room_id, "meta"), mapping=cast(Any, meta))
                pipe.set(room_key(room_id, "seq"), 0, nx=True)
                await pipe.execute()
            # The index lives in another slot than the room: never in the room's MULTI.
            await self._redis.sadd(ROOMS_INDEX, room_id)
        return True

    async def meta(self, room_id: str) -> dict[str, str]:
        """The room record, one HGETALL; empty when there is no such room (``RoomStore.meta``)."""
        with self._reachable():
            raw = await self._redis.hgetall(room_key(room_id, "meta"))
        return {text(k): text(v) for k, v in raw.items()}

    async def room_ids(self) -> list[str]:
        """Every room's id from the room index, sorted (``RoomStore.room_ids``)."""
        with self._reachable():
            return sorted(text(m) for m in await self._redis.smembers(ROOMS_INDEX))

    async def load(self, room_id: str) -> tuple[RoomState, int]:
        """The room's state and hearts total, read in one MULTI so they agree with its seq
        (``RoomStore.load``). Raises ``RoomNotFound``."""
        with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                for name in ("meta", "catalog"):
                    pipe.hgetall(room_key(room_id, name))
                for name in ("lineup", "pinned"):
                    pipe.get(room_key(room_id, name))
                for name in ("muted", "banned"):
                    pipe.smembers(room_key(room_id, name))
                for name in ("words", "seq"):
                    pipe.get(room_key(room_id, name))
                pipe.lrange(room_key(room_id, "history"), 0, -1)
                pipe.get(room_key(room_id, "hearts"))
                (
                    meta_raw,
                    products_raw,
                    lineup,
                    pinned,
                    muted,
                    banned,
                    words,
                    seq,
                    history,
                    hearts,
                ) = await pipe.execute()
        if not meta_raw:
            raise RoomNotFound(room_id)
        meta = {k.decode(): v.decode() for k, v in meta_raw.items()}
        state = RoomState(room_id=room_id, epoch=meta.get("epoch", ""))
        state.title = meta.get("title", "")
        state.host = meta.get("host", "")
        state.status = meta.get("status", "scheduled")
        state.slow_mode = int(meta.get("slow_mode", 0))
        state.lang = meta.get("lang", "")
        state.products = {k.decode(): json.loads(v) for k, v in products_raw.items()}
        order = json.loads(lineup) if lineup else []
        state.lineup = [p for p in order if p in state.products]
        state.lineup += [p for p in sorted(state.products) if p not in state.lineup]
        state.pinned = pinned.decode() if pinned else None
        state.muted = {m.decode() for m in muted}
        state.banned = {b.decode() for b in banned}
        state.set_banned_words(json.loads(words) if words else [])
        state.seq = int(seq or 0)
        state.restore_history([json.loads(e) for e in history])
        return state, int(hearts or 0)

    async def head(self, room_id: str) -> Head:
        """The room's epoch, seq and Redis' run_id in one script call (``RoomStore.head``)."""
        with self._reachable():
            raw = await self._head(keys=[room_key(room_id, "meta"), room_key(room_id, "seq")])
        return _head(raw)

    async def renew_epoch(self, room_id: str, epoch: str) -> str | None:
        """Give the room a new epoch if it still has ``epoch``, in one script call; the
        epoch afterwards, None without the room (``RoomStore.renew_epoch``)."""
        with self._reachable():
            now = await self._renew_epoch(
                keys=[room_key(room_id, "meta")], args=[epoch, secrets.token_urlsafe(8)]
            )
        return text(now) if now is not None else None

    async def emit(
        self,
        room_id: str,
        event: RoomEvent,
        writes: tuple[Write, ...] = (),
        budget: ChatBudget | None = None,
    ) -> int:
        """Budget check, writes, next seq, history and publish in one Lua call: all or
        nothing (``RoomStore.emit``); returns the seq."""
        ops = [_WRITES[type(w)](w) for w in writes]
        for w in writes:
            if isinstance(w, SaveModeration) and w.action == "unban":
                ops.append(("UNBANADDR", "banned_addr", (w.vid,)))
        if isinstance(event, ChatDeleted):  # the message's text leaves the history
            gone = tombstone(event)
            record = _dump({"seq": gone.seq, **gone.to_record()})
            ops.append(("REDACT", "history", (event.id, record)))
        return int(await self._run_emit(room_id, _dump(event.to_record()), ops, budget=budget))

    async def set_banned_words(self, room_id: str, words: list[str]) -> None:
        """Store the banned words and publish them to every node in one script call
        (``RoomStore.set_banned_words``)."""
        message = "C" + _dump({"type": "words", "words": words})
        await self._run_emit(room_id, "", [("SET", "words", (json.dumps(words),))], message)

    async def ban_addresses(self, room_id: str, vid: str, digests: list[str]) -> None:
        """Record the digests a still-banned ``vid`` was seen on, in one script call,
        bounded and expiring (``RoomStore.ban_addresses``)."""
        if not digests:
            return
        with self._reachable():
            await self._ban_addresses(
                keys=[banned_addresses_key(room_id), room_key(room_id, "banned")],
                args=[vid, MAX_BANNED_ADDRESSES, BANNED_ADDRESSES_TTL, *digests],
            )

    async def address_banned(self, room_id: str, digest: str) -> bool:
        """Whether a banned viewer was seen on this digest, one HEXISTS
        (``RoomStore.address_banned``)."""
        with self._reachable():
            return bool(await self._redis.hexists(banned_addresses_key(room_id), digest))

    async def _run_emit(
        self,
        room_id: str,
        body: str,
        ops: list[_Op],
        message: str | None = None,
        budget: ChatBudget | None = None,
    ) -> Any:
        """``emit.lua``: ``ops``, then ``body`` sequenced and published (and logged while
        a show is); or, with an empty ``body``, ``ops`` and the unsequenced ``message``
        published. With ``budget``, first the chat limits' check and take
        (``RoomStore.emit``)."""
        limits: list[str | int | float] = []
        budget_keys: list[str] = []
        if budget is not None:
            budget_keys = [
                chat_budget_key(room_id, f"v:{budget.vid}"),
                chat_budget_key(room_id, f"a:{budget.address or ''}"),
                banned_addresses_key(room_id),
            ]
            limits = [
                budget.viewer_rate,
                budget.viewer_burst,
                budget.address_rate,
                budget.address_burst,
                budget.address or "",
            ]
        with self._reachable():
            try:
                return await self._showing(
                    room_id,
                    lambda show: self._emit(
                        keys=[
                            room_key(room_id, "meta"),
                            room_key(room_id, "seq"),
                            room_key(room_id, "history"),
                            *(_show_keys(room_id, show) if show else ()),
                            *budget_keys,
                            *(room_key(room_id, name) for _, name, _ in ops),
                        ],
                        args=[
                            room_channel(room_id),
                            body,
                            HISTORY,
                            show,
                            len(ops),
                            len(limits),
                            *limits,
                            *_op_args(ops, first_key=4 + len(budget_keys) + (3 if show else 0)),
                            *([message] if message is not None else []),
                        ],
                    ),
                    sequenced=bool(body),
                )
            except aioredis.ResponseError as exc:
                reason = str(exc)
                if "NOROOM" in reason:
                    raise RoomNotFound(room_id) from exc
                refused = _refusal(reason)
                if refused is not None:
                    raise refused from None
                raise

    async def _showing(
        self, room_id: str, call: Callable[[str], Awaitable[Any]], *, sequenced: bool = True
    ) -> Any:
        """``call(show)`` with the show this node last saw logged in the room ('' for
        none); when the script answers that another is (``SHOWLOG <show>``, before any
        write), again with that one."""
        if not sequenced:
            return await call("")
        for _ in range(MAX_SHOW_TRIES):
            show = self._shows.get(room_id)
            try:
                return await call(show)
            except aioredis.ResponseError as exc:
                moved = _SHOW_MOVED.search(str(exc))
                if moved is None:
                    raise
                self._shows.put(room_id, moved.group(1))
        raise RuntimeError(f"room {room_id}'s logged show changed {MAX_SHOW_TRIES} times")

    async def history_after(self, room_id: str, seq: int) -> list[RoomEvent]:
        """The events after ``seq`` still in the history, in order
        (``RoomStore.history_after``)."""
        with self._reachable():
            raw = await self._redis.lrange(room_key(room_id, "history"), 0, -1)
        events = [event_from_wire(json.loads(e)) for e in raw]
        return [e for e in events if e.seq > seq]

    async def presence(self, room_id: str, local_viewers: int) -> Presence:
        """Report this node's viewers and read back the room's viewers, explain ranking,
        hearts and head in one script call (``RoomStore.presence``)."""
        with self._reachable():
            total, ranked, hearts, head = await self._presence(
                keys=[
                    room_key(room_id, "presence"),
                    room_key(room_id, "explain:rank"),
                    room_key(room_id, "hearts"),
                    room_key(room_id, "meta"),
                    room_key(room_id, "seq"),
                ],
                args=[self._node_id, local_viewers, int(time.time() * 1000), PRESENCE_STALE_MS],
            )
        pairs = [[ranked[i].decode(), int(float(ranked[i + 1]))] for i in range(0, len(ranked), 2)]
        return Presence(int(total), pairs, int(hearts), _head(head))

    async def log_stock(
        self, room_id: str, stock: Mapping[str, int], now_ms: int, gap_ms: int
    ) -> dict[str, int]:
        """While a show is logged, log the units that changed, at most once per ``gap_ms``
        per room across nodes (``RoomStore.log_stock``)."""
        args: list[str | int] = [now_ms, gap_ms]
        for pid, units in stock.items():
            args += [pid, int(units)]
        with self._reachable():
            raw = await self._showing(
                room_id,
                lambda show: self._stock(
                    keys=[
                        room_key(room_id, "meta"),
                        room_key(room_id, "seq"),
                        *(_show_keys(room_id, show)[1:] if show else ()),
                    ],
                    args=[show, *args],
                ),
            )
        pairs = [text(v) for v in raw]
        return {pairs[i]: int(pairs[i + 1]) for i in range(0, len(pairs), 2) if pairs[i + 1]}

    async def viewers(self, room_id: str) -> int:
        """Viewers on every node, as last reported (``RoomStore.viewers``)."""
        with self._reachable():
            raw = await self._redis.hvals(room_key(room_id, "presence"))
        return sum(int(text(v).split(":")[0]) for v in raw)

    async def add_hearts(self, counts: dict[str, int]) -> None:
        """Add to each room's hearts total and publish it: one pipeline, or one call per
        room side by side on a cluster (``RoomStore.add_hearts``)."""
        if self._cluster:  # rooms on several shards: one script call each, side by side
            with self._reachable():
                await asyncio.gather(
                    *(
                        self._hearts(keys=[room_key(r, "hearts")], args=[n, room_channel(r)])
                        for r, n in counts.items()
                    )
                )
            return
        with self._reachable():
            async with self._redis.pipeline(transaction=False) as pipe:
                for room_id, n in counts.items():
                    await self._hearts(
                        keys=[room_key(room_id, "hearts")],
                        args=[n, room_channel(room_id)],
                        client=cast(Any, pipe),
                    )
                await pipe.execute()

    async def explain(self, room_id: str, product_id: str, vid: str) -> int:
        """Count ``vid``'s request once per product and return the count
        (``RoomStore.explain``)."""
        with self._reachable():
            count = await self._explain(
                keys=[
                    room_key(room_id, f"explain:{product_id}"),
                    room_key(room_id, "explain:rank"),
                ],
                args=[vid, product_id],
            )
        return int(float(count))

    async def clear_explain(self, room_id: str, product_id: str) -> None:
        """Forget a product's explain requests, in one MULTI (``RoomStore.clear_explain``)."""
        with self._reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(room_key(room_id, f"explain:{product_id}"))
                pipe.zrem(room_key(room_id, "explain:rank"), product_id)
                await pipe.execute()


class RedisFeed:
    """Implements ``livecart.chat.store.RoomFeed`` on the node's one pub/sub connection."""

    def __init__(self, redis: AnyRedis, node_id: str, listener: FeedListener) -> None:
        self._listener = listener
        self._subscriber = Subscriber(
            redis, node_channel(node_id), self._on_message, listener.on_reconnect
        )

    @property
    def connected(self) -> bool:
        """True while the pub/sub connection is up and subscribed."""
        return self._subscriber.connected.is_set()

    @property
    def received(self) -> int:
        """Messages received so far (for /metrics)."""
        return self._subscriber.received

    @property
    def reconnects(self) -> int:
        """Times the connection came back after a loss (for /metrics)."""
        return self._subscriber.reconnects

    @property
    def losses(self) -> int:
        """Times the connection was lost or failed (for /metrics)."""
        return self._subscriber.losses

    async def run(self) -> None:
        """Deliver to the listener until cancelled, reconnecting by itself."""
        await self._subscriber.run()

    async def wait_connected(self, timeout: float) -> None:
        """Return once connected. Raises ``TimeoutError``."""
        async with asyncio.timeout(timeout):
            await self._subscriber.connected.wait()

    async def subscribe(self, room_id: str) -> None:
        """Subscribe to the room's channel; returns once Redis confirmed it."""
        await self._subscriber.subscribe(room_channel(room_id))

    def unsubscribe(self, room_id: str) -> None:
        """Unsubscribe from the room's channel."""
        self._subscriber.unsubscribe(room_channel(room_id))

    def _on_message(self, channel: str, data: bytes) -> None:
        if channel.startswith(NODE_CHANNEL_PREFIX):
            return
        room_id = room_of_channel(channel)
        kind = data[:1]
        try:
            if kind == b"E":
                self._listener.on_event(room_id, event_from_wire(json.loads(data[1:])))
            elif kind == b"H":
                n, total = data[1:].split(b":")
                self._listener.on_hearts(room_id, int(n), int(total))
            elif kind == b"C":
                message = json.loads(data[1:])
                if message.get("type") == "words":
                    self._listener.on_words(room_id, list(message.get("words", [])))
        except Exception:
            log.exception(
                "bad message on room %s: %r", room_id, data[:200], extra={"room": room_id}
            )
