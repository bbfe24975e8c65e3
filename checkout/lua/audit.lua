-- Everything needed to check the room's books, read at one instant (read-only):
-- stock per product, the live holds, the buyers' and addresses' counts, every order.
local stock, holds, buyers, orders, addresses = {}, {}, {}, {}, {}
for _, pid in ipairs(redis.call("SMEMBERS", P .. "products")) do
  stock[pid] = stock_view(hgetall(P .. "stock:" .. pid))
  buyers[pid] = hgetall(P .. "buyers:" .. pid)
  addresses[pid] = hgetall(P .. "addr:" .. pid)
end
for _, rid in ipairs(redis.call("ZRANGE", P .. "holds", 0, -1)) do
  holds[#holds + 1] = hgetall(P .. "hold:" .. rid)
end
for _, entry in ipairs(redis.call("XRANGE", P .. "orders", "-", "+")) do
  local fields = entry[2]
  local order = {}
  for i = 1, #fields, 2 do
    order[fields[i]] = fields[i + 1]
  end
  orders[#orders + 1] = order
end
return ok({stock = stock, holds = holds, buyers = buyers, orders = orders,
  addresses = addresses})
