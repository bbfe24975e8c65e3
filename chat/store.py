"""The hub's Redis adapter: room records, the event log, presence, hearts, explain queue.

Every key of a room carries the room's hash tag (``lc:{room}:...``), so each script and
transaction touches one slot and works unchanged on Redis Cluster.

Contracts:
- ``emit`` is atomic: the state mutations it carries, the room's next ``seq``, the
  history entry and the PUBLISH happen together or not at all. Sequence numbers per room
  are 1, 2, 3, ... with no gaps; the history keeps the last ``HISTORY`` events.
- ``load`` reads a room in one MULTI/EXEC, so the state and ``seq`` it returns agree.
- Every method may raise redis' ``ConnectionError``/``TimeoutError`` when Redis is away;
  the hub turns those into ``unavailable``. Nothing here retries on its own.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from livecart.chat.room_state import HISTORY, RoomState
from livecart.keyspace import ROOMS_INDEX, SECRET_KEY, room_channel, room_key


def text(value: bytes | str) -> str:
    """A Redis reply as str (the client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class Op:
    """One Redis write carried by ``emit``: ``cmd`` on the room key ``name`` with ``args``."""

    cmd: str
    name: str
    args: tuple[str | int, ...] = ()


_EMIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOROOM') end
local allowed = {HSET=true, HDEL=true, SET=true, DEL=true, SADD=true, SREM=true, ZREM=true}
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  local cmd = ARGV[i]
  if not allowed[cmd] then return redis.error_reply('BADOP ' .. cmd) end
  local k = KEYS[tonumber(ARGV[i + 1])]
  local nargs = tonumber(ARGV[i + 2])
  local args = {}
  for j = 1, nargs do args[j] = ARGV[i + 2 + j] end
  redis.call(cmd, k, unpack(args))
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
return seq
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
return {total, ranked, redis.call('GET', KEYS[3]) or '0'}
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


class RoomNotFound(Exception):
    """The room has no record in Redis."""


class RoomStore:
    """Room records and events in one Redis (or Redis Cluster)."""

    def __init__(self, redis: aioredis.Redis, node_id: str) -> None:
        self.redis = redis
        self.node_id = node_id
        self._emit = redis.register_script(_EMIT)
        self._presence = redis.register_script(_PRESENCE)
        self._explain = redis.register_script(_EXPLAIN)
        self._hearts = redis.register_script(_HEARTS)

    async def secret(self) -> bytes:
        """The cluster-wide secret for viewer tokens (created once, shared by every node)."""
        await self.redis.set(SECRET_KEY, secrets.token_hex(32), nx=True)
        value = await self.redis.get(SECRET_KEY)
        assert isinstance(value, bytes)
        return value

    async def create_room(
        self,
        room_id: str,
        *,
        title: str,
        host: str,
        host_token_hash: str,
        commission_rate: float,
    ) -> bool:
        """Create the room; False (and nothing changed) when it exists already."""
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
        created = await self.redis.hsetnx(room_key(room_id, "meta"), "id", room_id)
        if not created:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(room_key(room_id, "meta"), mapping=cast(Any, meta))
            pipe.set(room_key(room_id, "seq"), 0, nx=True)
            pipe.sadd(ROOMS_INDEX, room_id)
            await pipe.execute()
        return True

    async def meta(self, room_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(room_key(room_id, "meta"))
        return {text(k): text(v) for k, v in raw.items()}

    async def room_ids(self) -> list[str]:
        return sorted(text(m) for m in await self.redis.smembers(ROOMS_INDEX))

    async def load(self, room_id: str) -> tuple[RoomState, int]:
        """The room's state as of its current seq, and its total hearts.

        Raises ``RoomNotFound`` when the room has no record.
        """
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(room_key(room_id, "meta"))
            pipe.hgetall(room_key(room_id, "catalog"))
            pipe.get(room_key(room_id, "lineup"))
            pipe.get(room_key(room_id, "pinned"))
            pipe.smembers(room_key(room_id, "muted"))
            pipe.smembers(room_key(room_id, "banned"))
            pipe.get(room_key(room_id, "words"))
            pipe.get(room_key(room_id, "seq"))
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

    async def emit(self, room_id: str, event: dict[str, Any], ops: tuple[Op, ...] = ()) -> int:
        """Apply ``ops`` and publish ``event`` as the room's next sequenced event.

        Returns its seq. Raises ``RoomNotFound`` when the room has no record (nothing is
        written then).
        """
        keys, argv = self._op_args(room_id, ops)
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        try:
            seq = await self._emit(
                keys=[
                    room_key(room_id, "meta"),
                    room_key(room_id, "seq"),
                    room_key(room_id, "history"),
                    *keys,
                ],
                args=[room_channel(room_id), body, HISTORY, len(ops), *argv],
            )
        except aioredis.ResponseError as exc:
            if "NOROOM" in str(exc):
                raise RoomNotFound(room_id) from exc
            raise
        return int(seq)

    async def control(self, room_id: str, message: dict[str, Any], ops: tuple[Op, ...]) -> None:
        """Apply ``ops`` and tell every node (not the clients) with an unsequenced message."""
        keys, argv = self._op_args(room_id, ops)
        payload = "C" + json.dumps(message, separators=(",", ":"))
        try:
            await self._emit(
                keys=[
                    room_key(room_id, "meta"),
                    room_key(room_id, "seq"),
                    room_key(room_id, "history"),
                    *keys,
                ],
                args=[room_channel(room_id), "", HISTORY, len(ops), *argv, payload],
            )
        except aioredis.ResponseError as exc:
            if "NOROOM" in str(exc):
                raise RoomNotFound(room_id) from exc
            raise

    @staticmethod
    def _op_args(room_id: str, ops: tuple[Op, ...]) -> tuple[list[str], list[str | int]]:
        keys: list[str] = []
        argv: list[str | int] = []
        for op in ops:
            keys.append(room_key(room_id, op.name))
            argv += [op.cmd, 3 + len(keys), len(op.args), *op.args]
        return keys, argv

    async def history_after(self, room_id: str, seq: int) -> list[dict[str, Any]]:
        """Events with a seq above ``seq`` still in the room's history, in order."""
        raw = await self.redis.lrange(room_key(room_id, "history"), 0, -1)
        events = [json.loads(e) for e in raw]
        return [e for e in events if e["seq"] > seq]

    async def presence(
        self, room_id: str, local_viewers: int, stale_ms: int = 5000
    ) -> tuple[int, list[list[Any]], int]:
        """Report this node's viewers; return (viewers on all nodes, explain ranking, hearts)."""
        total, ranked, hearts = await self._presence(
            keys=[
                room_key(room_id, "presence"),
                room_key(room_id, "explain:rank"),
                room_key(room_id, "hearts"),
            ],
            args=[self.node_id, local_viewers, int(time.time() * 1000), stale_ms],
        )
        pairs = [[ranked[i].decode(), int(float(ranked[i + 1]))] for i in range(0, len(ranked), 2)]
        return int(total), pairs, int(hearts)

    async def add_hearts(self, counts: dict[str, int]) -> None:
        """Add each room's hearts to its total and tell every node ``H<n>:<new total>``,
        in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id, n in counts.items():
                await self._hearts(
                    keys=[room_key(room_id, "hearts")], args=[n, room_channel(room_id)], client=pipe
                )
            await pipe.execute()

    async def explain(self, room_id: str, product_id: str, vid: str) -> int:
        """Count one viewer's request once per product; return the product's count."""
        count = await self._explain(
            keys=[room_key(room_id, f"explain:{product_id}"), room_key(room_id, "explain:rank")],
            args=[vid, product_id],
        )
        return int(float(count))

    async def clear_explain(self, room_id: str, product_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(room_key(room_id, f"explain:{product_id}"))
            pipe.zrem(room_key(room_id, "explain:rank"), product_id)
            await pipe.execute()
