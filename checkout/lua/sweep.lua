-- Expire the room's holds whose time is up, at most ARGV[3] of them per call.
-- Safe to run from several nodes at once: each hold moves reserved (or pending) -> expired once;
-- index entries of holds that already ended are dropped.
-- Reply: {"ok": {"expired": n, "scanned": m}}; m == limit means "call again".
local limit = tonumber(ARGV[3])
local due = redis.call("ZRANGEBYSCORE", P .. "holds", "-inf", NOW, "LIMIT", 0, limit)
local expired = 0
for _, rid in ipairs(due) do
  local hold = hgetall(P .. "hold:" .. rid)
  if hold.state == "reserved" or hold.state == "pending" then
    give_back(hold, "expire", "expired")
    expired = expired + 1
  else
    redis.call("ZREM", P .. "holds", rid)
  end
end
return ok({expired = expired, scanned = #due})
