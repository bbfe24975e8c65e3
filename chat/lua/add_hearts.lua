-- Hearts sent to a room: added to its total and published as "H<n>:<total>".
-- KEYS[1] hearts; ARGV[1] how many, ARGV[2] the room's channel. Returns the total.
local total = redis.call("INCRBY", KEYS[1], ARGV[1])
redis.call(PUBLISH, ARGV[2], "H" .. ARGV[1] .. ":" .. total)
return total
