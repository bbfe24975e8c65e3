-- Close (or cancel, or settle) the room's auction; every step happens once.
-- ARGV[3] auction id, ARGV[4] "close" | "cancel" | "settle" | "view", ARGV[5] hold ms,
-- ARGV[6] a new reservation id (for the winner), ARGV[7] room (for the charge key).
--
-- Replies ok {auction, changed, due_in?, token?}: ``changed`` is true for the one call
-- that made the step (which also raises the auction's ``version``).
-- close: before ends_at (Redis' clock) nothing, with due_in ms; not running: nothing
--   (a second close is a no-op). Due: with a leader and the reserve met the reserved unit
--   becomes the winner's reservation (state won), else it goes back to stock (unsold).
-- cancel: has_bids after a bid, auction_closed when not running; else the unit goes
--   back and the state is cancelled.
-- settle (a won auction): sold when its reservation is ordered, unpaid when it ended
--   without an order; else nothing, with the saved card's token to charge.
NOW = redis_ms()
local aid, mode, hold_ms, rid, room = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local a = hgetall(AUCTION)
if mode == "view" then
  if not a.id then
    return ok({auction = cjson.null, changed = false})
  end
  return ok({auction = auction_view(a, NOW), changed = false})
end
if a.id ~= aid then
  return fail("not_found", "auction_id: no such auction in this room")
end
local function reply(changed, extra)
  if changed then
    redis.call("HINCRBY", AUCTION, "version", 1) -- every change is a newer auction
  end
  local out = {auction = auction_view(hgetall(AUCTION), NOW), changed = changed}
  for k, v in pairs(extra or {}) do
    out[k] = v
  end
  return ok(out)
end
if mode == "cancel" then
  if a.state ~= "running" or NOW >= tonumber(a.ends_at) then
    return fail("auction_closed", "the auction has ended")
  end
  if tonumber(a.bids) > 0 then
    return fail("has_bids", "an auction can be cancelled only before the first bid")
  end
  unreserve(a.product_id)
  redis.call("HSET", AUCTION, "state", "cancelled", "closed_at", NOW)
  return reply(true)
end
if mode == "settle" then
  if a.state ~= "won" then
    return reply(false)
  end
  local hold = hgetall(P .. "hold:" .. a.hold)
  if hold.state == "ordered" then
    redis.call("HSET", AUCTION, "state", "sold", "order_id", hold.order_id)
    redis.call("HDEL", AUCTION, "leader_token")
    return reply(true)
  end
  if hold.state == "reserved" and NOW < tonumber(hold.expires_at) then
    return reply(false, {token = opt(a.leader_token)})
  end
  redis.call("HSET", AUCTION, "state", "unpaid")
  redis.call("HDEL", AUCTION, "leader_token")
  return reply(true)
end
if a.state ~= "running" then
  return reply(false)
end
local ends_at = tonumber(a.ends_at)
if NOW < ends_at then
  return reply(false, {due_in = ends_at - NOW})
end
local reserve = tonumber(a.reserve)
local leader_max = tonumber(a.leader_max)
if a.leader ~= "" and (reserve == nil or leader_max >= reserve) then
  local price = tonumber(a.price)
  hold_for(rid, a.product_id, a.leader, a.leader_name, price, a.currency, hold_ms,
    "auction-" .. aid, room)
  redis.call("HSET", AUCTION, "state", "won", "hold", rid, "winner", a.leader,
    "winner_name", a.leader_name, "closed_at", NOW)
  return reply(true, {token = opt(a.leader_token)})
end
unreserve(a.product_id)
redis.call("HSET", AUCTION, "state", "unsold", "closed_at", NOW)
return reply(true)
