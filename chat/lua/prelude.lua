-- Prelude of every chat script; chat/store_redis.py puts it before each when loading
-- (livecart/lua_scripts.py). Every key a script touches comes in KEYS, named by
-- livecart/keyspace.py; a script never builds a key name. The room's keys share its
-- hash tag, so a script touches one slot (Redis Cluster).

-- Rendered by chat.chat_rules.lua_constants: the chat limits' numbers kept in Redis.
__CHAT_LIMITS__

-- PUBLISH on one Redis, SPUBLISH on a Redis Cluster (the room's channel carries its
-- hash tag: published by the shard that ran the script, to that shard's subscribers).
local PUBLISH = "__PUBLISH__"

-- The show being logged, from the room's meta hash ('' when none): the caller passes
-- the show it expects with that show's log keys. When another show (or none) is logged,
-- the script stops before its first write with "SHOWLOG <show>", and the caller sends
-- it again with that show's keys.
local function check_show(meta, expected)
  local show = redis.call("HGET", meta, "show_log") or ""
  if show ~= expected then
    return redis.error_reply("SHOWLOG " .. show)
  end
  return nil
end

-- The show log's TTL (ms) for a key that has none yet, from the room's meta hash.
local function keep_for_show(meta, key)
  local ttl = tonumber(redis.call("HGET", meta, "show_log_ttl") or "0")
  if ttl > 0 and redis.call("PTTL", key) < 0 then
    redis.call("PEXPIRE", key, ttl)
  end
end

-- Whether the stream is at meta's show_log_max; if so, the record is counted in the
-- show's meta hash (show_meta) as dropped.
local function show_log_full(meta, stream, show_meta)
  if redis.call("XLEN", stream) >= tonumber(redis.call("HGET", meta, "show_log_max") or "0") then
    redis.call("HINCRBY", show_meta, "dropped", 1)
    return true
  end
  return false
end

-- A room's head (chat.store.Head): {exists, epoch, seq, run_id}. INFO runs inside the
-- script so that on a Redis Cluster the run_id is that of the shard holding the room.
local function room_head(meta, seq)
  return {redis.call("EXISTS", meta), redis.call("HGET", meta, "epoch") or "",
    redis.call("GET", seq) or "0", string.match(redis.call("INFO", "server"), "run_id:(%w+)")}
end
