-- Stock of every product and every sale of the room, read at one instant.
local stock, sales = {}, {}
for _, pid in ipairs(redis.call("SMEMBERS", P .. "products")) do
  stock[pid] = stock_view(hgetall(P .. "stock:" .. pid))
end
for _, pid in ipairs(redis.call("SMEMBERS", P .. "sales")) do
  sales[pid] = sale_view(pid, hgetall(P .. "sale:" .. pid), NOW)
end
return ok({stock = stock, sales = sales})
