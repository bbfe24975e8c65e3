-- First step of a payment: decide whether to charge, and take the payment lease.
-- ARGV[3] pay key, ARGV[4] fingerprint, ARGV[5] reservation id, ARGV[6] buyer vid,
-- ARGV[7] lease ms.
--
-- Replies, in order of precedence:
-- - key_reused: the key was used with other parameters;
-- - the stored reply when the key is done;
-- - in_progress (retry_after = lease left) while the key's lease runs; after it, the
--   caller takes over (charging again is safe: the charge key is the same);
-- - not_found / forbidden (not stored);
-- - the order, when the reservation is already ordered (under any pay key);
-- - hold_expired when it is no longer held (a due expiry is applied here);
-- - for a pending purchase (first_paid): sold_out when too few units are left (it is
--   released), else its units are taken now and held for the lease;
-- - in_progress while another pay key holds the reservation's lease;
-- - otherwise {"charge": {amount, currency, key, product_id}}: the caller charges.
local key, fp, rid, vid, lease = ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])

local idem_key = P .. "idem:pay:" .. key
local rec = hgetall(idem_key)
if rec.fp then
  if rec.fp ~= fp then
    return fail("key_reused", "key: already used for a different payment")
  end
  if rec.state == "done" then
    return rec.res
  end
  local until_ms = tonumber(rec["until"])
  if until_ms > NOW then
    return fail("in_progress", "this payment is still being processed", (until_ms - NOW) / 1000)
  end
end

local hold_key = P .. "hold:" .. rid
local hold = hgetall(hold_key)
if not hold.id then
  return fail("not_found", "reservation_id: no such reservation")
end
if hold.buyer_vid ~= vid then
  return fail("forbidden", "reservation_id: this reservation belongs to someone else")
end
if hold.state == "ordered" then
  remember(idem_key, fp, hold.reply)
  return hold.reply
end
if (hold.state == "reserved" or hold.state == "pending")
    and NOW >= tonumber(hold.expires_at) then
  hold.state = give_back(hold, "expire", "expired")
end
if hold.state == "pending" then
  -- First paid, first served: the units are taken now, if any are left, for as long as
  -- this payment may take (the lease); otherwise sold_out, before anything is charged.
  local pid, qty = hold.product_id, tonumber(hold.qty)
  local stock_key, sale_key = P .. "stock:" .. pid, P .. "sale:" .. pid
  local sale = redis.call("HMGET", sale_key, "gen", "left")
  local available = tonumber(redis.call("HGET", stock_key, "available")) or 0
  if sale[1] ~= hold.gen or qty > (tonumber(sale[2]) or 0) or qty > available then
    give_back(hold, "release", "sold_out")
    local reply = fail("sold_out", "sold out before this payment started; nothing was charged")
    remember(idem_key, fp, reply)
    return reply
  end
  hold.state = next_state(hold.state, "take")
  hold.expires_at = NOW + lease
  redis.call("HINCRBY", stock_key, "available", -qty)
  redis.call("HINCRBY", stock_key, "reserved", qty)
  redis.call("HINCRBY", sale_key, "left", -qty)
  redis.call("HINCRBY", sale_key, "pending", -1)
  redis.call("HSET", hold_key, "state", hold.state, "expires_at", hold.expires_at,
    "taken_at", NOW)
  redis.call("ZADD", P .. "holds", hold.expires_at, rid)
end
if hold.state ~= "reserved" then
  local reply = hold.reply or fail("hold_expired", "the reservation is no longer held; buy again")
  remember(idem_key, fp, reply)
  return reply
end

local pay_until = tonumber(hold.pay_until)
if hold.pay_key and hold.pay_key ~= key and pay_until and pay_until > NOW then
  return fail("in_progress", "another payment for this reservation is being processed",
    (pay_until - NOW) / 1000)
end
redis.call("HSET", hold_key, "pay_key", key, "pay_until", NOW + lease)
redis.call("HSET", idem_key, "fp", fp, "state", "pending", "until", NOW + lease)
redis.call("PEXPIRE", idem_key, KEY_TTL)
return cjson.encode({charge = {
  amount = tonumber(hold.amount), currency = hold.currency, key = hold.charge_key,
  product_id = hold.product_id,
}})
