-- The provider approved the charge: turn the reservation into an order, once.
-- ARGV[3] pay key, ARGV[4] fingerprint, ARGV[5] reservation id, ARGV[6] charge id,
-- ARGV[7] order id.
--
-- reserved and not past its expiry: reserved -> paid -> ordered. reserved -= qty,
--   sold += qty, the order is appended to the room's orders stream with the host and
--   commission rate of the room meta hash, the room figures are counted (an order of a
--   replay buy also under replay_*: attributed apart from the live ones). Reply: order.
-- ordered already: the same order (idempotent by reservation).
-- ended (expired, released; a due expiry is applied here): -> refunded, the charge is
--   queued in the room's refunds set. Reply: hold_expired, plus {"refund": {...}} for the
--   caller while the refund is not done.
-- The reply is stored under the pay key.
local key, fp, rid, charge_id, order_id = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local idem_key = P .. "idem:pay:" .. key
local hold_key = P .. "hold:" .. rid
local hold = hgetall(hold_key)
if not hold.id then
  return fail("not_found", "reservation_id: no such reservation")
end

local function refund_instruction(reply)
  if hold.refund_id then
    return reply
  end
  local out = cjson.decode(reply)
  out.refund = {charge_id = hold.charge_id, key = hold.charge_key}
  return cjson.encode(out)
end

if hold.state == "ordered" then
  remember(idem_key, fp, hold.reply)
  return hold.reply
end
if hold.state == "refunded" then
  remember(idem_key, fp, hold.reply)
  return refund_instruction(hold.reply)
end
if hold.state == "reserved" and NOW >= tonumber(hold.expires_at) then
  hold.state = give_back(hold, "expire", "expired")
end
redis.call("ZREM", P .. "unsettled", rid) -- this payment is being settled now

if hold.state == "reserved" then
  local paid = next_state(hold.state, "payment_approved")
  local ordered = next_state(paid, "order_recorded")
  local qty = tonumber(hold.qty)
  local stock_key = P .. "stock:" .. hold.product_id
  local reserved = tonumber(redis.call("HGET", stock_key, "reserved"))
  if reserved == nil or reserved < qty then
    error("checkout invariant: reserved < qty for hold " .. rid)
  end
  local meta = redis.call("HMGET", P .. "meta", "host", "commission_rate")
  local host = meta[1] or ""
  local rate = meta[2]
  local rate_n = tonumber(rate)
  if rate_n == nil or rate_n < 0 or rate_n > 1 then
    rate = "0"
  end
  local amount = tonumber(hold.amount)

  redis.call("HINCRBY", stock_key, "reserved", -qty)
  redis.call("HINCRBY", stock_key, "sold", qty)
  redis.call("XADD", P .. "orders", "*",
    "id", order_id, "reservation_id", rid, "buyer_vid", hold.buyer_vid,
    "buyer_name", hold.buyer_name, "product_id", hold.product_id, "qty", qty,
    "unit_price", hold.unit_price, "currency", hold.currency, "amount", hold.amount,
    "charge_id", charge_id, "host", host, "commission_rate", rate, "created_at", NOW,
    "channel", hold.channel or "live")
  local figures = P .. "figures"
  if hold.channel == "replay" then
    redis.call("HINCRBY", figures, "replay_orders", 1)
    redis.call("HINCRBY", figures, "replay_units", qty)
    redis.call("HINCRBY", figures, "replay_revenue|" .. hold.currency, amount)
  end
  redis.call("HINCRBY", figures, "orders", 1)
  redis.call("HINCRBY", figures, "units", qty)
  redis.call("HINCRBY", figures, "revenue|" .. hold.currency, amount)
  redis.call("HINCRBY", figures, "host_orders|" .. host, 1)
  redis.call("HINCRBY", figures, "host_revenue|" .. cjson.encode({host, rate, hold.currency}),
    amount)

  local reply = ok({order = {
    id = order_id, reservation_id = rid, product_id = hold.product_id, qty = qty,
    unit_price = tonumber(hold.unit_price), currency = hold.currency, amount = amount,
    charge_id = charge_id, buyer_name = hold.buyer_name, created_at = NOW,
    channel = hold.channel or "live",
  }})
  redis.call("HSET", hold_key, "state", ordered, "order_id", order_id,
    "charge_id", charge_id, "reply", reply, "ended_at", NOW)
  redis.call("ZREM", P .. "holds", rid)
  redis.call("PEXPIRE", hold_key, KEY_TTL)
  forget_address(hold)
  remember(idem_key, fp, reply)
  return reply
end

local refunded = next_state(hold.state, "payment_approved")
local reply = fail("hold_expired",
  "the reservation ended before the payment was approved; the payment is refunded")
redis.call("HSET", hold_key, "state", refunded, "charge_id", charge_id, "reply", reply)
redis.call("PERSIST", hold_key) -- kept until the refund is done
redis.call("ZADD", P .. "refunds", NOW, rid)
remember(idem_key, fp, reply)
hold.charge_id = charge_id
return refund_instruction(reply)
