-- Everything needed to check the room's books, read at one instant (read-only):
-- stock per product, the live holds, the buyers' and addresses' counts, every order
-- and the units a running auction or open giveaway keeps reserved.
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
-- Units an auction or a giveaway holds in reserved before it has a winner.
local lots = {}
local a = redis.call("HMGET", P .. "auction", "state", "product_id")
if a[1] == "running" then
  lots[a[2]] = (lots[a[2]] or 0) + 1
end
local g = redis.call("HMGET", P .. "giveaway", "state", "product_id")
if g[1] == "open" or g[1] == "drawing" then
  lots[g[2]] = (lots[g[2]] or 0) + 1
end
return ok({stock = stock, holds = holds, buyers = buyers, orders = orders,
  addresses = addresses, lots = lots})
