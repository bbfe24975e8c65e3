-- Stock of one product. ARGV[3] op: "init" or "add"; ARGV[4] product id; ARGV[5] units;
-- ARGV[6] (add only) idempotency key.
-- init: create initial = available = units, reserved = sold = 0; a no-op when the
--       product already has stock (the hub may repeat it).
-- add:  initial += units and available += units, once per key.
local op, pid, units, key = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local stock_key = P .. "stock:" .. pid

if op == "init" then
  if redis.call("EXISTS", stock_key) == 0 then
    redis.call("HSET", stock_key, "initial", units, "available", units, "reserved", 0, "sold", 0)
    redis.call("SADD", P .. "products", pid)
  end
  return ok({stock = stock_view(hgetall(stock_key))})
end

if op == "add" then
  if redis.call("EXISTS", stock_key) == 0 then
    return fail("not_found", "product_id: no stock for this product")
  end
  local idem_key = P .. "idem:stock:" .. key
  local seen = redis.call("HMGET", idem_key, "fp", "res")
  local fp = pid .. "/" .. units
  if seen[1] then
    if seen[1] ~= fp then
      return fail("key_reused", "key: already used for a different stock change")
    end
    return seen[2]
  end
  redis.call("HINCRBY", stock_key, "initial", units)
  redis.call("HINCRBY", stock_key, "available", units)
  local reply = ok({stock = stock_view(hgetall(stock_key))})
  remember(idem_key, fp, reply)
  return reply
end

error("stock.lua: unknown op " .. tostring(op))
