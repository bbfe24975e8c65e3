-- One bid (every bid is a max bid), at most once per key, decided by Redis' clock.
-- ARGV[3] key, ARGV[4] fingerprint, ARGV[5] auction id, ARGV[6] vid, ARGV[7] name,
-- ARGV[8] max, ARGV[9] the provider's token for the card given with the bid ("" for none;
-- kept while this bidder leads, deleted at the settle).
--
-- key_reused / the stored reply; not_found (not this room's current auction: not
-- stored); then, stored under the key: auction_closed (not running, or now >= ends_at),
-- bid_too_low (max < next bid, or the leader not raising their own max); else the bid
-- is accepted: leader, price, the counter-bid reset (checkout/auction_rules.py).
NOW = redis_ms()
local key, fp, aid, vid, name = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local max_bid, token = tonumber(ARGV[8]), ARGV[9]
local idem_key = P .. "idem:bid:" .. key
local seen = redis.call("HMGET", idem_key, "fp", "res")
if seen[1] then
  if seen[1] ~= fp then
    return fail("key_reused", "key: already used for a different bid")
  end
  return seen[2]
end
local a = hgetall(AUCTION)
if a.id ~= aid then
  return fail("not_found", "auction_id: no such auction in this room")
end
local function refuse(code, message)
  local reply = fail(code, message)
  remember(idem_key, fp, reply)
  return reply
end
local ends_at = tonumber(a.ends_at)
if a.state ~= "running" or NOW >= ends_at then
  return refuse("auction_closed", "the auction has ended")
end
local table_ = cjson.decode(a.increments)
local nxt = next_bid(a, table_)
local leader, leader_max = a.leader, tonumber(a.leader_max)
if max_bid < nxt then
  return refuse("bid_too_low", "the next bid is " .. nxt)
end
if vid == leader and max_bid <= leader_max then
  return refuse("bid_too_low", "you lead already; a new max must be above " .. leader_max)
end
local second = tonumber(a.second_max)
if vid == leader then
  leader_max = max_bid
  if token ~= "" then
    redis.call("HSET", AUCTION, "leader_token", token)
  end
elseif leader == "" or max_bid > leader_max then
  if leader ~= "" then
    second = leader_max
  end
  leader, leader_max = vid, max_bid
  redis.call("HSET", AUCTION, "leader", vid, "leader_name", name, "leader_token", token)
else
  second = second == nil and max_bid or math.max(second, max_bid)
end
local price = price_for(tonumber(a.start_price), leader_max, second, tonumber(a.reserve), table_)
price = math.max(price, tonumber(a.price))
local counter = tonumber(a.counter_ms)
local reset = false
if a.sudden_death ~= "1" and ends_at - NOW < counter then
  ends_at = NOW + counter
  reset = true
  redis.call("HINCRBY", AUCTION, "resets", 1)
end
redis.call("HSET", AUCTION, "leader_max", leader_max, "second_max", second or "",
  "price", price, "ends_at", ends_at, "last_vid", vid, "last_name", name,
  "last_max", max_bid)
redis.call("HINCRBY", AUCTION, "bids", 1)
redis.call("HINCRBY", AUCTION, "version", 1)
local reply = ok({accepted = true, leading = leader == vid, reset = reset,
  auction = auction_view(hgetall(AUCTION), NOW)})
remember(idem_key, fp, reply)
return reply
