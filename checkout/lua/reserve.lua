-- Reserve units of a product on sale for one buyer, at most once per idempotency key.
-- ARGV[3] key, ARGV[4] fingerprint of (product, buyer, qty), ARGV[5] new reservation id,
-- ARGV[6] product id, ARGV[7] buyer (a viewer id, or "u:<sub>" for a signed-in buyer),
-- ARGV[8] buyer name, ARGV[9] qty, ARGV[10] hold duration ms when the sale sets none,
-- ARGV[11] room (for the charge key), ARGV[12] the client's address ("" for a signed-in
-- buyer: not capped), ARGV[13] the most live unpaid purchases per address and sale
-- (0: no cap), ARGV[14] channel: "live" or "replay".
--
-- A replay buy (channel "replay") needs no sale: while the product has no open sale (a
-- sale the host opened for the replay, after the show), it is at the product's list
-- price (the room's catalog) while stock is available, at most REPLAY_LIMIT per buyer,
-- and the hold's gen is "replay" (no sale's units_left is touched by it). With an open
-- sale it takes the sale's terms like a live buy. Hold and order carry the channel.
--
-- Same key and fingerprint: the stored reply, verbatim (a reservation for KEY_TTL, a
-- refusal for REFUSAL_KEEP_MS). Same key, other fingerprint: key_reused. Otherwise, in
-- this order: not_found (not stored: the product may be added later), sale_not_open,
-- limit_reached, sold_out, too_many_holds (these four kept in the room's bounded
-- "refused" hash), or a purchase: the buyer's count += qty, the address's count += 1,
-- and it is indexed by its expiry for the sweeper. Under the sale's "hold" policy it
-- holds the units (available -= qty, reserved += qty, the sale's units_left -= qty);
-- under "first_paid" it is "pending" and holds nothing until its payment starts.
local key, fp, rid, pid = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local vid, name, qty = ARGV[7], ARGV[8], tonumber(ARGV[9])
local hold_ms, room = tonumber(ARGV[10]), ARGV[11]
local addr, cap = ARGV[12], tonumber(ARGV[13])
local channel = ARGV[14] or "live"
local REPLAY_LIMIT = 10

local idem_key = P .. "idem:buy:" .. key
local seen = redis.call("HMGET", idem_key, "fp", "res")
local seen_fp, seen_reply = seen[1], seen[2]
if not seen_fp then
  seen_fp, seen_reply = recall_refusal(key)
end
if seen_fp then
  if seen_fp ~= fp then
    return fail("key_reused", "key: already used for a different purchase")
  end
  return seen_reply
end

local stock_key = P .. "stock:" .. pid
if redis.call("EXISTS", stock_key) == 0 then
  return fail("not_found", "product_id: no such product")
end

local function refuse(code, message, retry_after)
  local reply = fail(code, message, retry_after)
  remember_refusal(key, fp, reply)
  return reply
end

local sale_key = P .. "sale:" .. pid
local sale = hgetall(sale_key)
if channel == "replay" and not (sale.gen and sale_state(sale, NOW) == "open") then
  local raw = redis.call("HGET", P .. "catalog", pid)
  if not raw then
    return fail("not_found", "product_id: no such product")
  end
  local product = cjson.decode(raw)
  sale = {gen = "replay", price = tostring(product.price), currency = product.currency,
    limit = tostring(REPLAY_LIMIT), left = redis.call("HGET", stock_key, "available")}
elseif channel ~= "replay" then
  if not sale.gen then
    return refuse("sale_not_open", "this product is not on sale")
  end
  local state = sale_state(sale, NOW)
  if state == "scheduled" then
    return refuse("sale_not_open", "the sale has not opened yet",
      (tonumber(sale.opens_at) - NOW) / 1000)
  end
  if state ~= "open" then
    return refuse("sale_not_open", "the sale is closed")
  end
end

local buyers_key = P .. "buyers:" .. pid
local limit = tonumber(sale.limit)
local had = tonumber(redis.call("HGET", buyers_key, vid)) or 0
if had + qty > limit then
  return refuse("limit_reached",
    "the limit is " .. limit .. " per buyer and you hold or bought " .. had)
end

local left = tonumber(sale.left)
local available = tonumber(redis.call("HGET", stock_key, "available"))
if qty > left or qty > available then
  return refuse("sold_out", "only " .. math.min(left, available) .. " left")
end

local addr_key = P .. "addr:" .. pid
if addr ~= "" and cap > 0 then
  local unpaid = tonumber(redis.call("HGET", addr_key, addr)) or 0
  if unpaid >= cap then
    return refuse("too_many_holds", "your network already has " .. unpaid
      .. " unpaid purchases in this sale: pay one, or wait until one ends")
  end
end
local first_paid = sale.policy == "first_paid"
if first_paid and (tonumber(sale.pending) or 0) >= MAX_PENDING_PER_SALE then
  return refuse("too_many_holds", "too many unpaid purchases are waiting in this sale")
end

local hold_key = P .. "hold:" .. rid
if redis.call("EXISTS", hold_key) == 1 then
  error("reserve: reservation id collision " .. rid)
end

local price = tonumber(sale.price)
local amount = price * qty
local expires_at = NOW + (tonumber(sale.hold_ms) or hold_ms)
local hold_state = "reserved"
if first_paid then
  hold_state = "pending"
  redis.call("HINCRBY", sale_key, "pending", 1)
else
  redis.call("HINCRBY", stock_key, "available", -qty)
  redis.call("HINCRBY", stock_key, "reserved", qty)
end
if not first_paid and sale.gen ~= "replay" then
  redis.call("HINCRBY", sale_key, "left", -qty)
end
redis.call("HINCRBY", buyers_key, vid, qty)
if addr ~= "" then
  redis.call("HINCRBY", addr_key, addr, 1)
end
redis.call("HSET", hold_key,
  "id", rid, "product_id", pid, "buyer_vid", vid, "buyer_name", name,
  "qty", qty, "unit_price", price, "currency", sale.currency, "amount", amount,
  "gen", sale.gen, "state", hold_state, "created_at", NOW, "expires_at", expires_at,
  "buy_key", key, "charge_key", room .. ":" .. key, "addr", addr, "channel", channel)
redis.call("ZADD", P .. "holds", expires_at, rid)

local reply = ok({reservation = {
  id = rid, product_id = pid, qty = qty, unit_price = price, currency = sale.currency,
  amount = amount, state = hold_state, created_at = NOW, expires_at = expires_at,
  channel = channel,
}})
remember(idem_key, fp, reply)
return reply
