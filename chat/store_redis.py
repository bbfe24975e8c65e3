"""``RoomStore`` (``livecart.chat.store``) on Redis: room records, the event log, presence,
hearts, the explain queue, and the node's feed over pub/sub.

Every key of a room carries the room's hash tag (``livecart.keyspace.room_key``), so each
script and transaction touches one slot and works unchanged on Redis Cluster.

How the contract is kept:
- ``emit`` is one Lua script: it checks the room exists, applies the writes, INCRs
  ``seq``, appends ``{"seq": n, <record>}`` to ``history`` (trimmed to ``HISTORY``) and
  PUBLISHes it as ``E<json>`` on the room's channel (SPUBLISH on a Redis Cluster: the
  channel carries the room's hash tag, so it is published by the shard that ran the
  script, to that shard's subscribers; ``livecart.pubsub`` SSUBSCRIBEs there). While
  meta's ``show_log`` names a show, the same record is appended to that show's log
  (``chat.show_log``; past ``show_log_max`` entries a stream's events are counted, not
  kept).
  A viewer's chat message (``emit`` with a ``ChatBudget``) is first checked in the same
  script: the address ban (``banned_addr``), slow mode (meta's ``slow_mode``, the
  viewer's last message) and the viewer's and address's token buckets on Redis'
  ``TIME``; a refusal (``BANNED``, ``SLOWMODE <s>``, ``RATELIMITED <s>``) writes nothing
  and becomes the sender's ``CommandError``. An unban's emit also drops that viewer's
  entries of ``banned_addr``; ``ban_addresses`` adds them.
- ``log_stock`` is one script: the show's stock label, sampled into the same log (at
  most one record per product per gap, only changes, deduplicated across nodes).
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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import redis.asyncio as aioredis

from livecart.chat.errors import CommandError, ErrorCode, RoomNotFound, StoreUnavailable
from livecart.chat.events import MODERATION, ChatDeleted, RoomEvent, event_from_wire, tombstone
from livecart.chat.room_state import HISTORY, RoomState
from livecart.chat.store import (
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
)
from livecart.limits import MAX_BANNED_ADDRESSES
from livecart.pubsub import Subscriber
from livecart.redis_client import REDIS_DOWN, AnyRedis, is_cluster, is_full

log = logging.getLogger(__name__)
PRESENCE_STALE_MS = 5000
BUDGET_TTL_MS = 300_000  # a chat bucket untouched this long is full again anyway
BANNED_ADDRESSES_TTL = 86_400  # seconds after the last ban of the room
_REFUSED = re.compile(r"\b(BANNED|SLOWMODE|RATELIMITED)(?: ([0-9.eE+-]+))?")


def text(value: bytes | str) -> str:
    """A Redis reply as str (the client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def _head(raw: list[Any]) -> Head:
    """The ``_HEAD`` reply (also the last item of ``_PRESENCE``'s) as a ``Head``."""
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


_EMIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOROOM') end
if tonumber(ARGV[5]) > 0 then
  -- a viewer's chat message: KEYS[4] its bucket, KEYS[5] its address's, KEYS[6] the
  -- banned addresses; ARGV[6..11] rates, bursts, the buckets' TTL (ms), address digest
  local vrate, vburst = tonumber(ARGV[6]), tonumber(ARGV[7])
  local arate, aburst = tonumber(ARGV[8]), tonumber(ARGV[9])
  local ttl, digest = tonumber(ARGV[10]), ARGV[11]
  if digest ~= '' and redis.call('HEXISTS', KEYS[6], digest) == 1 then
    return redis.error_reply('BANNED')
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local function level(h, rate, burst)
    local tokens = tonumber(h[1])
    if not tokens then return burst end
    return math.min(burst, tokens + math.max(0, now - tonumber(h[2])) * rate)
  end
  local v = redis.call('HMGET', KEYS[4], 'tokens', 'ts', 'last')
  local slow = tonumber(redis.call('HGET', KEYS[1], 'slow_mode') or '0') or 0
  local last = tonumber(v[3])
  if slow > 0 and last and now - last < slow then
    return redis.error_reply('SLOWMODE ' .. tostring(slow - (now - last)))
  end
  local vt = level(v, vrate, vburst)
  if vt < 1 then return redis.error_reply('RATELIMITED ' .. tostring((1 - vt) / vrate)) end
  if digest ~= '' and arate > 0 then
    local at = level(redis.call('HMGET', KEYS[5], 'tokens', 'ts'), arate, aburst)
    if at < 1 then return redis.error_reply('RATELIMITED ' .. tostring((1 - at) / arate)) end
    redis.call('HSET', KEYS[5], 'tokens', tostring(at - 1), 'ts', tostring(now))
    redis.call('PEXPIRE', KEYS[5], ttl)
  end
  redis.call('HSET', KEYS[4], 'tokens', tostring(vt - 1), 'ts', tostring(now),
    'last', tostring(now))
  redis.call('PEXPIRE', KEYS[4], ttl)
end
local allowed = {HSET=true, HDEL=true, SET=true, DEL=true, SADD=true, SREM=true, ZREM=true,
  REDACT=true, UNBANADDR=true}
local function seq_of(record) return tonumber(string.match(record, '^{"seq":(%d+)')) end
local i = 6 + tonumber(ARGV[5])
for _ = 1, tonumber(ARGV[4]) do
  local cmd = ARGV[i]
  if not allowed[cmd] then return redis.error_reply('BADOP ' .. cmd) end
  local k = KEYS[tonumber(ARGV[i + 1])]
  local nargs = tonumber(ARGV[i + 2])
  local args = {}
  for j = 1, nargs do args[j] = ARGV[i + 2 + j] end
  if cmd == 'UNBANADDR' then
    -- args: the unbanned vid; forget the addresses it was banned on
    local all = redis.call('HGETALL', k)
    for j = 1, #all, 2 do
      if all[j + 1] == args[1] then redis.call('HDEL', k, all[j]) end
    end
  elseif cmd == 'REDACT' then
    -- args: the deleted message's seq, its tombstone; the history holds consecutive seqs
    local first = redis.call('LINDEX', k, 0)
    local target = tonumber(args[1])
    if first and seq_of(first) and target >= seq_of(first) then
      local index = target - seq_of(first)
      local held = redis.call('LINDEX', k, index)
      if held and seq_of(held) == target and string.find(held, '"type":"chat"', 1, true) then
        redis.call('LSET', k, index, args[2])
      end
    end
  else
    redis.call(cmd, k, unpack(args))
  end
  i = i + 3 + nargs
end
if ARGV[2] == '' then
  redis.call('PUBLISH', ARGV[1], ARGV[#ARGV])
  return 0
end
local seq = redis.call('INCR', KEYS[2])
local msg = '{"seq":' .. seq .. ',' .. string.sub(ARGV[2], 2)
redis.call('RPUSH', KEYS[3], msg)
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[3]), -1)
redis.call('PUBLISH', ARGV[1], 'E' .. msg)
local show = redis.call('HGET', KEYS[1], 'show_log')
if show then
  local log = string.sub(KEYS[1], 1, -5) .. 'showlog:' .. show
  local key = log .. ':state'
  if string.find(string.sub(ARGV[2], 1, 40), '"type":"chat"', 1, true) then key = log end
  if redis.call('XLEN', key) >= tonumber(redis.call('HGET', KEYS[1], 'show_log_max') or '0') then
    redis.call('HINCRBY', log .. ':meta', 'dropped', 1)
    return seq
  end
  redis.call('XADD', key, '*', 'e', msg)
  local ttl = tonumber(redis.call('HGET', KEYS[1], 'show_log_ttl') or '0')
  if ttl > 0 and redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ttl) end
end
return seq
"""

# Record a banned viewer's address digests, unless it was unbanned meanwhile (so a node
# applying the ban late cannot bring an unban's entries back). KEYS: banned_addr, banned;
# ARGV: vid, the bound, the TTL (s), digests...
_BAN_ADDRESSES = """
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return 0 end
local added = 0
for i = 4, #ARGV do
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) then break end
  added = added + redis.call('HSET', KEYS[1], ARGV[i], ARGV[1])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return added
"""

# A show's stock label, sampled (``chat.show_log``): ARGV = now (ms), the sampling gap
# (ms), then product/units pairs as this node read them. Per product, the last value
# logged is ``stock:<product>`` = ``<units>:<ms>`` in the show's meta hash; a value that
# differs from it is logged if the last one is at least the gap old. Whichever node calls
# first logs it; the others find it logged. Returns the pairs as logged now (the caller's
# own when no show is logged: nothing to catch up on).
_STOCK = """
local show = redis.call('HGET', KEYS[1], 'show_log')
if not show then return ARGV end
local log = string.sub(KEYS[1], 1, -5) .. 'showlog:' .. show
local meta, key = log .. ':meta', log .. ':state'
local now, gap = tonumber(ARGV[1]), tonumber(ARGV[2])
local logged, changed = {ARGV[1], ARGV[2]}, {}
for i = 3, #ARGV, 2 do
  local pid, units = ARGV[i], ARGV[i + 1]
  local last = redis.call('HGET', meta, 'stock:' .. pid)
  local value, at = nil, 0
  if last then
    value, at = string.match(last, '^(-?%d+):(%d+)$')
    at = tonumber(at)
  end
  if value ~= units and now - at >= gap then
    redis.call('HSET', meta, 'stock:' .. pid, units .. ':' .. now)
    changed[#changed + 1] = cjson.encode(pid) .. ':' .. units
    value = units
  end
  logged[#logged + 1] = pid
  logged[#logged + 1] = value or ''
end
if #changed == 0 then return logged end
local ttl = tonumber(redis.call('HGET', KEYS[1], 'show_log_ttl') or '0')
if ttl > 0 and redis.call('PTTL', meta) < 0 then redis.call('PEXPIRE', meta, ttl) end
if redis.call('XLEN', key) >= tonumber(redis.call('HGET', KEYS[1], 'show_log_max') or '0') then
  redis.call('HINCRBY', meta, 'dropped', 1)
  return logged
end
local seq = redis.call('GET', KEYS[2]) or '0'
redis.call('XADD', key, '*', 'e', '{"seq":' .. seq .. ',"type":"stock","ts":' .. now ..
  ',"stock":{' .. table.concat(changed, ',') .. '}}')
if ttl > 0 and redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ttl) end
return logged
"""

_PRESENCE = """
local now = tonumber(ARGV[3])
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local all = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #all, 2 do
  local c, t = string.match(all[i + 1], '(%d+):(%d+)')
  if tonumber(t) < now - tonumber(ARGV[4]) then
    redis.call('HDEL', KEYS[1], all[i])
  else
    total = total + tonumber(c)
  end
end
local ranked = redis.call('ZREVRANGE', KEYS[2], 0, 19, 'WITHSCORES')
local head = {redis.call('EXISTS', KEYS[4]), redis.call('HGET', KEYS[4], 'epoch') or '',
  redis.call('GET', KEYS[5]) or '0', string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')}
return {total, ranked, redis.call('GET', KEYS[3]) or '0', head}
"""

_RENEW_EPOCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2])
end
return redis.call('HGET', KEYS[1], 'epoch')
"""

# A room's Head (``store.Head``): [exists, epoch, seq, run_id]. INFO runs inside the
# script so that on Redis Cluster the run_id is that of the shard holding the room.
_HEAD = """
return {redis.call('EXISTS', KEYS[1]), redis.call('HGET', KEYS[1], 'epoch') or '',
  redis.call('GET', KEYS[2]) or '0', string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')}
"""

_HEARTS = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'H' .. ARGV[1] .. ':' .. total)
return total
"""

_EXPLAIN = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], 86400)
  return redis.call('ZINCRBY', KEYS[2], 1, ARGV[2])
end
return redis.call('ZSCORE', KEYS[2], ARGV[2]) or '0'
"""


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


def _publishing(script: str, cluster: bool) -> str:
    """``script`` publishing with SPUBLISH on a Redis Cluster (sharded pub/sub)."""
    return script.replace("'PUBLISH'", "'SPUBLISH'") if cluster else script


class RedisRoomStore:
    """Implements ``livecart.chat.store.RoomStore`` on one Redis (or Redis Cluster)."""

    def __init__(self, redis: AnyRedis, node_id: str) -> None:
        self._redis = redis
        self._node_id = node_id
        self._cluster = is_cluster(redis)
        self._emit = redis.register_script(_publishing(_EMIT, self._cluster))
        self._presence = redis.register_script(_PRESENCE)
        self._stock = redis.register_script(_STOCK)
        self._explain = redis.register_script(_EXPLAIN)
        self._hearts = redis.register_script(_publishing(_HEARTS, self._cluster))
        self._head = redis.register_script(_HEAD)
        self._renew_epoch = redis.register_script(_RENEW_EPOCH)
        self._ban_addresses = redis.register_script(_BAN_ADDRESSES)

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
        return self._node_id

    def feed(self, listener: FeedListener) -> RedisFeed:
        return RedisFeed(self._redis, self._node_id, listener)

    async def _shared_value(self, key: str, new: str) -> str:
        with self._reachable():
            await self._redis.set(key, new, nx=True)
            value = await self._redis.get(key)
        assert isinstance(value, bytes)
        return value.decode()

    async def secret(self) -> bytes:
        return (await self._shared_value(SECRET_KEY, secrets.token_hex(32))).encode()

    async def admin_token(self, new: str) -> str:
        return await self._shared_value(ADMIN_TOKEN_KEY, new)

    async def create_room(
        self, room_id: str, *, title: str, host: str, host_token_hash: str, commission_rate: float
    ) -> bool:
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
        with self._reachable():
            raw = await self._redis.hgetall(room_key(room_id, "meta"))
        return {text(k): text(v) for k, v in raw.items()}

    async def room_ids(self) -> list[str]:
        with self._reachable():
            return sorted(text(m) for m in await self._redis.smembers(ROOMS_INDEX))

    async def load(self, room_id: str) -> tuple[RoomState, int]:
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
        with self._reachable():
            raw = await self._head(keys=[room_key(room_id, "meta"), room_key(room_id, "seq")])
        return _head(raw)

    async def renew_epoch(self, room_id: str, epoch: str) -> str | None:
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
        message = "C" + _dump({"type": "words", "words": words})
        await self._run_emit(room_id, "", [("SET", "words", (json.dumps(words),))], message)

    async def ban_addresses(self, room_id: str, vid: str, digests: list[str]) -> None:
        if not digests:
            return
        with self._reachable():
            await self._ban_addresses(
                keys=[banned_addresses_key(room_id), room_key(room_id, "banned")],
                args=[vid, MAX_BANNED_ADDRESSES, BANNED_ADDRESSES_TTL, *digests],
            )

    async def address_banned(self, room_id: str, digest: str) -> bool:
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
        """The emit script: ``ops``, then ``body`` sequenced and published; or, with an
        empty ``body``, ``ops`` and the unsequenced ``message`` published. With
        ``budget``, first the chat limits' check and take (``RoomStore.emit``)."""
        keys: list[str] = []
        limits: list[str | int | float] = []
        if budget is not None:
            keys = [
                chat_budget_key(room_id, f"v:{budget.vid}"),
                chat_budget_key(room_id, f"a:{budget.address or ''}"),
                banned_addresses_key(room_id),
            ]
            limits = [
                budget.viewer_rate,
                budget.viewer_burst,
                budget.address_rate,
                budget.address_burst,
                BUDGET_TTL_MS,
                budget.address or "",
            ]
        argv: list[str | int | float] = [len(limits), *limits]
        for cmd, name, args in ops:
            keys.append(room_key(room_id, name))
            argv += [cmd, 3 + len(keys), len(args), *args]
        if message is not None:
            argv.append(message)
        with self._reachable():
            try:
                return await self._emit(
                    keys=[
                        room_key(room_id, "meta"),
                        room_key(room_id, "seq"),
                        room_key(room_id, "history"),
                        *keys,
                    ],
                    args=[room_channel(room_id), body, HISTORY, len(ops), *argv],
                )
            except aioredis.ResponseError as exc:
                reason = str(exc)
                if "NOROOM" in reason:
                    raise RoomNotFound(room_id) from exc
                refused = _refusal(reason)
                if refused is not None:
                    raise refused from None
                raise

    async def history_after(self, room_id: str, seq: int) -> list[RoomEvent]:
        with self._reachable():
            raw = await self._redis.lrange(room_key(room_id, "history"), 0, -1)
        events = [event_from_wire(json.loads(e)) for e in raw]
        return [e for e in events if e.seq > seq]

    async def presence(self, room_id: str, local_viewers: int) -> Presence:
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
        args: list[str | int] = [now_ms, gap_ms]
        for pid, units in stock.items():
            args += [pid, int(units)]
        with self._reachable():
            raw = await self._stock(
                keys=[room_key(room_id, "meta"), room_key(room_id, "seq")], args=args
            )
        pairs = [text(v) for v in raw[2:]]
        return {pairs[i]: int(pairs[i + 1]) for i in range(0, len(pairs), 2) if pairs[i + 1]}

    async def viewers(self, room_id: str) -> int:
        with self._reachable():
            raw = await self._redis.hvals(room_key(room_id, "presence"))
        return sum(int(text(v).split(":")[0]) for v in raw)

    async def add_hearts(self, counts: dict[str, int]) -> None:
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
        return self._subscriber.connected.is_set()

    @property
    def received(self) -> int:
        return self._subscriber.received

    @property
    def reconnects(self) -> int:
        return self._subscriber.reconnects

    @property
    def losses(self) -> int:
        return self._subscriber.losses

    async def run(self) -> None:
        await self._subscriber.run()

    async def wait_connected(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self._subscriber.connected.wait()

    async def subscribe(self, room_id: str) -> None:
        await self._subscriber.subscribe(room_channel(room_id))

    def unsubscribe(self, room_id: str) -> None:
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
