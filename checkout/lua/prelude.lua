-- Prelude of every checkout script; checkout/scripts.py prepends it when loading.
--
-- KEYS[1]  the room's prefix "lc:{<room>}": every key a script touches starts with it,
--          so a script touches one room, in one hash slot.
-- ARGV[1]  now, ms since the Unix epoch, from the service's clock.
-- ARGV[2]  how long idempotency records and finished holds are kept, ms (>= 24 h).
-- Each script's own arguments start at ARGV[3].
--
-- Every script returns one JSON string: {"ok": {...}} or {"error": {code, message,
-- retry_after?}}, sometimes with an extra instruction for the caller ("charge",
-- "refund"). Scripts check everything before their first write: Redis does not roll a
-- script back when it fails half way.
local P = KEYS[1] .. ":"
local NOW = tonumber(ARGV[1])
local KEY_TTL = tonumber(ARGV[2])

-- Rendered from checkout.bounds: how long and how many of what a client can make us keep.
__BOUNDS__

-- Rendered from checkout.lifecycle.TRANSITIONS: the one table of legal moves.
local TRANSITIONS = __TRANSITIONS__

local function next_state(state, event)
  local row = TRANSITIONS[state]
  local target = row and row[event]
  if not target then
    error("illegal transition: " .. tostring(state) .. " on " .. tostring(event))
  end
  return target
end

-- Redis' own clock in ms: what auctions and giveaways decide by (every node agrees on it,
-- whatever its own clock says). Scripts replicate their effects, so reading TIME before
-- writing is allowed.
local function redis_ms()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function hgetall(key)
  local flat = redis.call("HGETALL", key)
  local t = {}
  for i = 1, #flat, 2 do
    t[flat[i]] = flat[i + 1]
  end
  return t
end

local function ok(data)
  return cjson.encode({ok = data})
end

local function fail(code, message, retry_after)
  return cjson.encode({error = {code = code, message = message, retry_after = retry_after}})
end

-- Store a final reply under an idempotency record, for KEY_TTL.
local function remember(idem_key, fp, reply)
  redis.call("HSET", idem_key, "fp", fp, "state", "done", "res", reply)
  redis.call("PEXPIRE", idem_key, KEY_TTL)
end

-- A refused buy's reply, kept in the room's bounded "refused" hash (key -> fp "\n"
-- reply) for REFUSAL_KEEP_MS, at most REFUSALS_PER_ROOM entries: the oldest go first.
local function remember_refusal(key, fp, reply)
  local hash, index = P .. "refused", P .. "refused_at"
  local old = redis.call("ZRANGEBYSCORE", index, "-inf", NOW - REFUSAL_KEEP_MS, "LIMIT", 0, 100)
  if #old > 0 then
    redis.call("HDEL", hash, unpack(old))
    redis.call("ZREM", index, unpack(old))
  end
  redis.call("HSET", hash, key, fp .. "\n" .. reply)
  redis.call("ZADD", index, NOW, key)
  local extra = redis.call("ZCARD", index) - REFUSALS_PER_ROOM
  if extra > 0 then
    local gone = redis.call("ZPOPMIN", index, extra)
    for i = 1, #gone, 2 do
      redis.call("HDEL", hash, gone[i])
    end
  end
  redis.call("PEXPIRE", hash, REFUSAL_KEEP_MS)
  redis.call("PEXPIRE", index, REFUSAL_KEEP_MS)
end

-- (fingerprint, reply) of a refusal remembered under key within REFUSAL_KEEP_MS, or nil.
local function recall_refusal(key)
  local rec = redis.call("HGET", P .. "refused", key)
  if not rec then
    return nil
  end
  local at = tonumber(redis.call("ZSCORE", P .. "refused_at", key))
  if at == nil or at <= NOW - REFUSAL_KEEP_MS then
    return nil -- its window is over: decided afresh (and trimmed by the next refusal)
  end
  local cut = string.find(rec, "\n", 1, true)
  return string.sub(rec, 1, cut - 1), string.sub(rec, cut + 1)
end

-- A live purchase of an anonymous buyer no longer counts against its address's cap.
local function forget_address(hold)
  if hold.addr and hold.addr ~= "" then
    local addr_key = P .. "addr:" .. hold.product_id
    if redis.call("HINCRBY", addr_key, hold.addr, -1) <= 0 then
      redis.call("HDEL", addr_key, hold.addr)
    end
  end
end

local function opt_number(value)
  local n = tonumber(value)
  if n == nil then
    return cjson.null
  end
  return n
end

local function sale_state(sale, now)
  if sale.closed == "1" then
    return "closed"
  end
  local opens = tonumber(sale.opens_at)
  if opens and now < opens then
    return "scheduled"
  end
  local ends = tonumber(sale.ends_at)
  if ends and now >= ends then
    return "closed"
  end
  return "open"
end

local function sale_view(pid, sale, now)
  return {
    product_id = pid,
    price = tonumber(sale.price),
    currency = sale.currency,
    units = tonumber(sale.units),
    limit = tonumber(sale.limit),
    opens_at = opt_number(sale.opens_at),
    ends_at = opt_number(sale.ends_at),
    state = sale_state(sale, now),
    units_left = tonumber(sale.left),
    hold_seconds = sale.hold_ms and tonumber(sale.hold_ms) / 1000 or cjson.null,
    policy = sale.policy or "hold",
  }
end

local function stock_view(stock)
  return {
    initial = tonumber(stock.initial),
    available = tonumber(stock.available),
    reserved = tonumber(stock.reserved),
    sold = tonumber(stock.sold),
  }
end

-- A live purchase ends without a sale (event "release" or "expire"). A held one
-- (reserved) gives its units back to available and to the sale they came from (if that
-- sale is still the current one); a pending one (first_paid) held none. Either leaves
-- the buyer's count and its address's cap. A hold that expires with a payment attempt
-- on it goes to the room's "unsettled" set: that attempt may have charged and died
-- before confirming. A hold that never saw a payment attempt is dropped, with its buy
-- key, UNPAID_KEEP_MS later; others are kept KEY_TTL. Checks before writing.
local function give_back(hold, event, reason)
  local state = next_state(hold.state, event)
  local qty = tonumber(hold.qty)
  local pid = hold.product_id
  local stock_key = P .. "stock:" .. pid
  local sale_key = P .. "sale:" .. pid
  local same_sale = redis.call("HGET", sale_key, "gen") == hold.gen
  if hold.state == "pending" then
    if same_sale then
      redis.call("HINCRBY", sale_key, "pending", -1)
    end
  else
    local reserved = tonumber(redis.call("HGET", stock_key, "reserved"))
    if reserved == nil or reserved < qty then
      error("checkout invariant: reserved < qty for hold " .. hold.id)
    end
    redis.call("HINCRBY", stock_key, "reserved", -qty)
    redis.call("HINCRBY", stock_key, "available", qty)
    if same_sale then
      redis.call("HINCRBY", sale_key, "left", qty)
    end
  end
  local buyers_key = P .. "buyers:" .. pid
  if redis.call("HINCRBY", buyers_key, hold.buyer_vid, -qty) <= 0 then
    redis.call("HDEL", buyers_key, hold.buyer_vid)
  end
  forget_address(hold)
  local hold_key = P .. "hold:" .. hold.id
  redis.call("HSET", hold_key, "state", state, "ended_at", NOW, "end_reason", reason)
  redis.call("ZREM", P .. "holds", hold.id)
  if hold.pay_key then
    redis.call("PEXPIRE", hold_key, KEY_TTL)
  else
    redis.call("PEXPIRE", hold_key, UNPAID_KEEP_MS)
    if hold.buy_key then
      redis.call("PEXPIRE", P .. "idem:buy:" .. hold.buy_key, UNPAID_KEEP_MS)
    end
  end
  if event == "expire" and hold.pay_key then
    redis.call("ZADD", P .. "unsettled", NOW, hold.id)
  end
  return state
end
