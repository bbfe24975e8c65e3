-- Reserve for a batch of buy requests of one room, one after another in the order given,
-- in one atomic call. checkout/scripts.py renders reserve.lua above this as the local
-- function `reserve(ARGV)`, so each request runs exactly the single reserve, with its
-- own arguments in ARGV[3..14] and the batch's NOW and KEY_TTL.
--
-- ARGV[3] the number of fields per request (12), then each request's reserve.lua
-- arguments (its ARGV[3..14]) back to back. Returns an array: reserve.lua's reply for
-- each request, in order. A request whose reserve raises a script error (a bug) gets
-- {"script_error": message} and the others go on, as if each had been its own call;
-- a full Redis (OOM) fails the whole call, before anything is written.
local width = tonumber(ARGV[3])
local replies = {}
local one = {ARGV[1], ARGV[2]}
for first = 4, #ARGV, width do
  for i = 0, width - 1 do
    one[3 + i] = ARGV[first + i]
  end
  local done, reply = pcall(reserve, one)
  if not done then
    local message = type(reply) == "table" and reply.err or tostring(reply)
    if string.sub(message, 1, 3) == "OOM" then
      -- maxmemory: Redis refuses only a script's first write, so nothing of this call
      -- is written yet; the whole call fails (unavailable to every request)
      error(reply)
    end
    reply = cjson.encode({script_error = message})
  end
  replies[#replies + 1] = reply
end
return replies
