-- Start an auction of one unit of a product, at most once per key.
-- ARGV[3] key, ARGV[4] fingerprint, ARGV[5] auction id, ARGV[6] product id,
-- ARGV[7] currency, ARGV[8] start price, ARGV[9] duration ms, ARGV[10] counter ms,
-- ARGV[11] sudden death ("1"/"0"), ARGV[12] reserve ("" for none), ARGV[13] increments
-- (JSON [[from, step], ...]).
--
-- key_reused / the stored reply; then not_found (no stock), auction_running (one is
-- running or being paid), sold_out (no available unit). Otherwise one unit moves from
-- available to reserved and the auction runs until now + duration (Redis' clock).
NOW = redis_ms()
local key, fp, aid, pid = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local idem_key = P .. "idem:auction:" .. key
local seen = redis.call("HMGET", idem_key, "fp", "res")
if seen[1] then
  if seen[1] ~= fp then
    return fail("key_reused", "key: already used for a different auction")
  end
  return seen[2]
end
local stock_key = P .. "stock:" .. pid
if redis.call("EXISTS", stock_key) == 0 then
  return fail("not_found", "product_id: no such product")
end
local state = redis.call("HGET", AUCTION, "state")
if state == "running" or state == "won" then
  return fail("auction_running", "an auction is already running in this room")
end
if tonumber(redis.call("HGET", stock_key, "available")) < 1 then
  return fail("sold_out", "no unit of this product is available")
end
redis.call("HINCRBY", stock_key, "available", -1)
redis.call("HINCRBY", stock_key, "reserved", 1)
redis.call("DEL", AUCTION)
local duration = tonumber(ARGV[9])
redis.call("HSET", AUCTION,
  "id", aid, "product_id", pid, "currency", ARGV[7], "start_price", ARGV[8],
  "duration_ms", duration, "counter_ms", ARGV[10], "sudden_death", ARGV[11],
  "reserve", ARGV[12], "increments", ARGV[13], "state", "running", "price", ARGV[8],
  "leader", "", "leader_name", "", "leader_max", 0, "second_max", "", "bids", 0,
  "resets", 0, "started_at", NOW, "ends_at", NOW + duration, "version", 1)
local reply = ok({auction = auction_view(hgetall(AUCTION), NOW)})
remember(idem_key, fp, reply)
return reply
