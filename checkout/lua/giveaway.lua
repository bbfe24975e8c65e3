-- The room's giveaway, one step per call, each happening once (Redis' clock decides).
-- ARGV[3] mode, ARGV[4] giveaway id, then per mode:
-- start   ARGV[5] product id, [6] rule, [7] watched ms, [8] duration ms, [9] seed,
--         [10] commitment, [11] currency: not_found (no stock), giveaway_running, sold_out; else one
--         unit moves from available to reserved and the giveaway is open.
-- enter   ARGV[5..] vid, name pairs: added to the eligible set while open (ok {added}).
-- freeze  at or after ends_at: state drawing (once); with rule "bought" the room's buyers
--         are added first. Replies {giveaway, seed, eligible} once drawing; before the
--         end {due_in}.
-- finish  ARGV[5] winner vid ("" for none), [6] reservation id, [7] hold ms, [8] room:
--         drawing -> drawn (the unit becomes the winner's reservation at price 0) or
--         no_entrants (the unit goes back). Replies {giveaway, changed, hold?}.
-- settle  ARGV[5] order id: recorded once.
NOW = redis_ms()
local G = P .. "giveaway"
local ELIGIBLE = P .. "giveaway:eligible"
local NAMES = P .. "giveaway:names"
local mode, gid = ARGV[3], ARGV[4]
local g = hgetall(G)

local function view(extra)
  local cur = hgetall(G)
  local out = {
    id = cur.id, product_id = cur.product_id, state = cur.state, rule = cur.rule,
    watched_seconds = tonumber(cur.watched_ms) / 1000, ends_at = tonumber(cur.ends_at),
    server_now = NOW, commitment = cur.commitment, seed = cjson.null, eligible = cjson.null,
    winner = cjson.null, order_id = opt(cur.order_id), reservation_id = opt(cur.hold), entrants = redis.call("SCARD", ELIGIBLE),
  }
  if cur.state == "drawn" or cur.state == "no_entrants" then
    out.seed = cur.seed
    out.eligible = cjson.decode(cur.eligible)
    if cur.winner ~= "" then
      out.winner = {vid = cur.winner, name = mask(redis.call("HGET", NAMES, cur.winner))}
    end
  end
  local o = {giveaway = out}
  for k, v in pairs(extra or {}) do
    o[k] = v
  end
  return ok(o)
end

if mode == "start" then
  local pid = ARGV[5]
  local stock_key = P .. "stock:" .. pid
  if redis.call("EXISTS", stock_key) == 0 then
    return fail("not_found", "product_id: no such product")
  end
  if g.state == "open" or g.state == "drawing" then
    return fail("giveaway_running", "a giveaway is already open in this room")
  end
  if tonumber(redis.call("HGET", stock_key, "available")) < 1 then
    return fail("sold_out", "no unit of this product is available")
  end
  redis.call("HINCRBY", stock_key, "available", -1)
  redis.call("HINCRBY", stock_key, "reserved", 1)
  redis.call("DEL", G, ELIGIBLE, NAMES)
  redis.call("HSET", G, "id", gid, "product_id", pid, "rule", ARGV[6], "watched_ms", ARGV[7],
    "ends_at", NOW + tonumber(ARGV[8]), "seed", ARGV[9], "commitment", ARGV[10],
    "state", "open", "winner", "", "started_at", NOW, "currency", ARGV[11])
  return view({changed = true})
end
if mode == "view" then
  if not g.id then
    return ok({giveaway = cjson.null})
  end
  return view()
end
if g.id ~= gid then
  return fail("not_found", "giveaway_id: no such giveaway in this room")
end
if mode == "enter" then
  if g.state ~= "open" or NOW >= tonumber(g.ends_at) then
    return ok({added = 0})
  end
  local added = 0
  for i = 5, #ARGV, 2 do
    added = added + redis.call("SADD", ELIGIBLE, ARGV[i])
    redis.call("HSET", NAMES, ARGV[i], ARGV[i + 1])
  end
  return ok({added = added})
end
if mode == "freeze" then
  if g.state == "open" then
    local ends_at = tonumber(g.ends_at)
    if NOW < ends_at then
      return ok({due_in = ends_at - NOW})
    end
    if g.rule == "bought" then
      for _, entry in ipairs(redis.call("XRANGE", P .. "orders", "-", "+")) do
        local f = entry[2]
        local o = {}
        for i = 1, #f, 2 do
          o[f[i]] = f[i + 1]
        end
        if tonumber(o.amount) > 0 then -- a prize is not a purchase
          redis.call("SADD", ELIGIBLE, o.buyer_vid)
          redis.call("HSET", NAMES, o.buyer_vid, o.buyer_name)
        end
      end
    end
    redis.call("HSET", G, "state", "drawing")
    g.state = "drawing"
  end
  if g.state ~= "drawing" then
    return ok({done = true})
  end
  return ok({seed = g.seed, eligible = redis.call("SMEMBERS", ELIGIBLE)})
end
if mode == "finish" then
  if g.state ~= "drawing" then
    return view({changed = false})
  end
  local winner, rid, hold_ms, room = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
  local eligible = redis.call("SMEMBERS", ELIGIBLE)
  table.sort(eligible)
  if winner ~= "" and redis.call("SISMEMBER", ELIGIBLE, winner) == 0 then
    error("giveaway: the winner is not eligible")
  end
  redis.call("HSET", G, "eligible", cjson.encode(eligible), "winner", winner)
  if winner == "" then
    unreserve(g.product_id)
    redis.call("HSET", G, "state", "no_entrants")
    return view({changed = true})
  end
  hold_for(rid, g.product_id, winner, redis.call("HGET", NAMES, winner) or "", 0, g.currency,
    hold_ms, "giveaway-" .. gid, room)
  redis.call("HSET", G, "state", "drawn", "hold", rid)
  return view({changed = true, hold = rid})
end
if mode == "settle" then
  if g.order_id ~= nil and g.order_id ~= "" then
    return view({changed = false})
  end
  redis.call("HSET", G, "order_id", ARGV[5])
  return view({changed = true})
end
return fail("bad_args", "giveaway: unknown mode")
