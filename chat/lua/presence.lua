-- This node's viewers of a room, and what the hub's periodic check reads back in the
-- same round trip (chat.store.Presence).
-- KEYS[1] presence, KEYS[2] explain:rank, KEYS[3] hearts, KEYS[4] meta, KEYS[5] seq.
-- ARGV[1] the node; ARGV[2] its viewers (0: the node leaves); ARGV[3] now (ms);
-- ARGV[4] how old (ms) a node's entry may be before it counts as gone.
-- Returns {viewers on every node, the explain ranking (20 with scores), hearts, head}.
local now = tonumber(ARGV[3])
if tonumber(ARGV[2]) > 0 then
  redis.call("HSET", KEYS[1], ARGV[1], ARGV[2] .. ":" .. ARGV[3])
else
  redis.call("HDEL", KEYS[1], ARGV[1])
end
local all = redis.call("HGETALL", KEYS[1])
local total = 0
for i = 1, #all, 2 do
  local c, t = string.match(all[i + 1], "(%d+):(%d+)")
  if tonumber(t) < now - tonumber(ARGV[4]) then
    redis.call("HDEL", KEYS[1], all[i])
  else
    total = total + tonumber(c)
  end
end
local ranked = redis.call("ZREVRANGE", KEYS[2], 0, 19, "WITHSCORES")
return {total, ranked, redis.call("GET", KEYS[3]) or "0", room_head(KEYS[4], KEYS[5])}
