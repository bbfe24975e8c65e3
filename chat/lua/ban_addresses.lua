-- Record a banned viewer's address digests, unless it was unbanned meanwhile (so a node
-- applying the ban late cannot bring an unban's entries back).
-- KEYS[1] the room's banned addresses, KEYS[2] its banned viewers.
-- ARGV[1] the viewer; ARGV[2] the most addresses a room keeps; ARGV[3] their TTL (s);
-- then the address digests. Returns how many were added.
if redis.call("SISMEMBER", KEYS[2], ARGV[1]) == 0 then return 0 end
local added = 0
for i = 4, #ARGV do
  if redis.call("HLEN", KEYS[1]) >= tonumber(ARGV[2]) then break end
  added = added + redis.call("HSET", KEYS[1], ARGV[i], ARGV[1])
end
redis.call("EXPIRE", KEYS[1], tonumber(ARGV[3]))
return added
