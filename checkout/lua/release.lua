-- The payment failed (declined, timed out): give the units back, once.
-- ARGV[3] pay key, ARGV[4] fingerprint, ARGV[5] reservation id, ARGV[6] error code,
-- ARGV[7] message.
-- reserved: -> released (units back to available and to the sale). Reply: the error,
-- stored under the pay key. An ordered reservation replies with its order (a success
-- that raced ahead wins); an ended one just gets the error.
local key, fp, rid, code, message = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local idem_key = P .. "idem:pay:" .. key
local hold = hgetall(P .. "hold:" .. rid)
if not hold.id then
  return fail("not_found", "reservation_id: no such reservation")
end
redis.call("ZREM", P .. "unsettled", rid) -- the payment attempt ended without a charge
local reply
if hold.state == "ordered" then
  reply = hold.reply
else
  reply = fail(code, message)
  if hold.state == "reserved" then
    give_back(hold, "release", code)
  end
end
remember(idem_key, fp, reply)
return reply
