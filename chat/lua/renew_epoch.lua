-- Compare-and-set of a room's epoch. KEYS[1] meta; ARGV[1] the epoch the caller saw,
-- ARGV[2] the new one. Returns the epoch now (nil when there is no such room).
if redis.call("EXISTS", KEYS[1]) == 0 then return false end
if redis.call("HGET", KEYS[1], "epoch") == ARGV[1] then
  redis.call("HSET", KEYS[1], "epoch", ARGV[2])
end
return redis.call("HGET", KEYS[1], "epoch")
