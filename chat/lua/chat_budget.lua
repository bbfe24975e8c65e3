-- The chat limits of a viewer's message, shared by every process and node: the rule
-- that decides (chat.chat_rules' ChatLimits is each node's cheap first filter of the
-- same rule, with the same numbers: chat.chat_rules, BUCKET_IDLE_MS rendered into the
-- prelude). Checked and taken in the emit script, before its first write.
--
-- meta: the room's meta hash (slow_mode); viewer, address: the two buckets (hashes
-- tokens, ts and, for the viewer, last: its last message); banned: the banned
-- addresses. rates are tokens a second, bursts the most saved up; digest is the
-- client address's keyed digest ('' for none: no address ban nor address bucket).
-- Returns nil when the message may go (its tokens taken), else the refusal as an error
-- reply: BANNED, SLOWMODE <seconds left>, RATELIMITED <seconds until a token>.
local function take_chat_budget(meta, viewer, address, banned, vrate, vburst, arate, aburst,
    digest)
  if digest ~= "" and redis.call("HEXISTS", banned, digest) == 1 then
    return redis.error_reply("BANNED")
  end
  local t = redis.call("TIME")
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local function level(h, rate, burst)
    local tokens = tonumber(h[1])
    if not tokens then return burst end
    return math.min(burst, tokens + math.max(0, now - tonumber(h[2])) * rate)
  end
  local v = redis.call("HMGET", viewer, "tokens", "ts", "last")
  local slow = tonumber(redis.call("HGET", meta, "slow_mode") or "0") or 0
  local last = tonumber(v[3])
  if slow > 0 and last and now - last < slow then
    return redis.error_reply("SLOWMODE " .. tostring(slow - (now - last)))
  end
  local vt = level(v, vrate, vburst)
  if vt < 1 then return redis.error_reply("RATELIMITED " .. tostring((1 - vt) / vrate)) end
  if digest ~= "" and arate > 0 then
    local at = level(redis.call("HMGET", address, "tokens", "ts"), arate, aburst)
    if at < 1 then return redis.error_reply("RATELIMITED " .. tostring((1 - at) / arate)) end
    redis.call("HSET", address, "tokens", tostring(at - 1), "ts", tostring(now))
    redis.call("PEXPIRE", address, BUCKET_IDLE_MS)
  end
  redis.call("HSET", viewer, "tokens", tostring(vt - 1), "ts", tostring(now),
    "last", tostring(now))
  redis.call("PEXPIRE", viewer, BUCKET_IDLE_MS)
  return nil
end
