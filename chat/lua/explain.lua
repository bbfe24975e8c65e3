-- An "explain this" request: counted once per requester and product.
-- KEYS[1] the product's requesters (a day's TTL), KEYS[2] explain:rank.
-- ARGV[1] who asks, ARGV[2] the product. Returns the product's count.
if redis.call("SADD", KEYS[1], ARGV[1]) == 1 then
  redis.call("EXPIRE", KEYS[1], 86400)
  return redis.call("ZINCRBY", KEYS[2], 1, ARGV[2])
end
return redis.call("ZSCORE", KEYS[2], ARGV[2]) or "0"
