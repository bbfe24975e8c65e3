-- Open or close the flash sale of one product.
-- ARGV[3] op: "open" or "close"; ARGV[4] product id; for open: ARGV[5] price,
-- ARGV[6] currency, ARGV[7] units, ARGV[8] limit, ARGV[9] opens_at, ARGV[10] ends_at
-- ("" when absent), ARGV[11] hold ms, ARGV[12] policy ("hold" or "first_paid").
-- open: a sale with exactly these terms that is not closed is returned unchanged (so a
--       repeated open is harmless); otherwise a new sale generation replaces the old one,
--       with units_left = units. Holds taken under an older generation keep their units
--       but give them back to available only.
-- close: sets the close flag; closing a closed sale is a no-op.
local op, pid = ARGV[3], ARGV[4]
local stock_key = P .. "stock:" .. pid
local sale_key = P .. "sale:" .. pid
if redis.call("EXISTS", stock_key) == 0 then
  return fail("not_found", "product_id: no stock for this product")
end
local sale = hgetall(sale_key)

if op == "open" then
  local price, currency, units, limit = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
  local opens_at, ends_at, hold_ms, policy = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
  if sale.gen and sale_state(sale, NOW) ~= "closed" and sale.price == price
      and sale.currency == currency and sale.units == units and sale.limit == limit
      and sale.opens_at == opens_at and sale.ends_at == ends_at
      and sale.hold_ms == hold_ms and (sale.policy or "hold") == policy then
    return ok({sale = sale_view(pid, sale, NOW)})
  end
  local available = tonumber(redis.call("HGET", stock_key, "available"))
  if tonumber(units) > available then
    return fail("bad_args", "units: only " .. available .. " available")
  end
  local gen = (tonumber(sale.gen) or 0) + 1
  redis.call("DEL", sale_key)
  redis.call("HSET", sale_key, "gen", gen, "price", price, "currency", currency,
    "units", units, "limit", limit, "opens_at", opens_at, "ends_at", ends_at,
    "left", units, "closed", "0", "opened_at", NOW, "hold_ms", hold_ms, "policy", policy,
    "pending", 0)
  redis.call("SADD", P .. "sales", pid)
  return ok({sale = sale_view(pid, hgetall(sale_key), NOW)})
end

if op == "close" then
  if not sale.gen then
    return fail("not_found", "product_id: this product has no sale")
  end
  if sale.closed ~= "1" then
    redis.call("HSET", sale_key, "closed", "1", "closed_at", NOW)
    sale.closed = "1"
  end
  return ok({sale = sale_view(pid, sale, NOW)})
end

error("sale.lua: unknown op " .. tostring(op))
