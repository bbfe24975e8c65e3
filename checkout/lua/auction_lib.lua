-- Shared by the auction scripts (checkout/scripts.py puts it after the prelude).
-- The rules are checkout/auction_rules.py's; docs/auctions.md states them.
local AUCTION = P .. "auction"

local function increment(table_, price)
  local step = table_[1][2]
  for _, row in ipairs(table_) do
    if row[1] > price then
      break
    end
    step = row[2]
  end
  return step
end

local function next_bid(a, table_)
  if a.leader == nil or a.leader == "" then
    return tonumber(a.start_price)
  end
  local price = tonumber(a.price)
  return price + increment(table_, price)
end

local function price_for(start, leader_max, second_max, reserve, table_)
  local price = start
  if second_max ~= nil then
    price = math.max(start, math.min(leader_max, second_max + increment(table_, second_max)))
  end
  if reserve ~= nil and leader_max >= reserve then
    price = math.max(price, math.min(reserve, leader_max))
  end
  return price
end

-- Names leave the scripts as they are: checkout.auctions masks them for the room.
local function mask(name)
  return name or ""
end

local function opt(value)
  if value == nil or value == "" then
    return cjson.null
  end
  return value
end

local function auction_view(a, now)
  local table_ = cjson.decode(a.increments)
  local has_leader = a.leader ~= nil and a.leader ~= ""
  local reserve = tonumber(a.reserve)
  local winner = cjson.null
  if a.winner ~= nil and a.winner ~= "" then
    winner = {vid = a.winner, name = mask(a.winner_name)}
  end
  local last = cjson.null
  if a.last_vid ~= nil and a.last_vid ~= "" then
    last = {name = mask(a.last_name), vid = a.last_vid, max = tonumber(a.last_max)}
  end
  return {
    id = a.id, product_id = a.product_id, currency = a.currency, state = a.state,
    start_price = tonumber(a.start_price), price = tonumber(a.price),
    next_bid = next_bid(a, table_), bids = tonumber(a.bids), resets = tonumber(a.resets),
    leader = has_leader and mask(a.leader_name) or cjson.null,
    leader_vid = has_leader and a.leader or cjson.null,
    last_bid = last,
    ends_at = tonumber(a.ends_at), server_now = now,
    duration_ms = tonumber(a.duration_ms), counter_ms = tonumber(a.counter_ms),
    sudden_death = a.sudden_death == "1",
    reserve_met = has_leader and (reserve == nil or tonumber(a.leader_max) >= reserve),
    increments = table_, winner = winner, order_id = opt(a.order_id),
    reservation_id = opt(a.hold), version = tonumber(a.version) or 0,
  }
end

-- The auctioned unit goes back to the product's available stock.
local function unreserve(pid)
  local stock_key = P .. "stock:" .. pid
  local reserved = tonumber(redis.call("HGET", stock_key, "reserved"))
  if reserved == nil or reserved < 1 then
    error("checkout invariant: auction unit not reserved for " .. pid)
  end
  redis.call("HINCRBY", stock_key, "reserved", -1)
  redis.call("HINCRBY", stock_key, "available", 1)
end

-- The reserved unit becomes a reservation (an ordinary hold) for the winner.
local function hold_for(rid, pid, vid, name, price, currency, hold_ms, key, room)
  local hold_key = P .. "hold:" .. rid
  if redis.call("EXISTS", hold_key) == 1 then
    error("auction: reservation id collision " .. rid)
  end
  local expires_at = NOW + hold_ms
  redis.call("HINCRBY", P .. "buyers:" .. pid, vid, 1)
  redis.call("HSET", hold_key,
    "id", rid, "product_id", pid, "buyer_vid", vid, "buyer_name", name,
    "qty", 1, "unit_price", price, "currency", currency, "amount", price,
    "gen", "lot", "state", "reserved", "created_at", NOW, "expires_at", expires_at,
    "buy_key", key, "charge_key", room .. ":" .. key)
  redis.call("ZADD", P .. "holds", expires_at, rid)
  redis.call("SADD", P .. "products", pid)
end
