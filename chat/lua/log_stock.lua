-- A show's stock label, sampled into its state log (chat.store.RoomStore.log_stock,
-- chat.show_log). Per product, the last value logged is "stock:<product>" =
-- "<units>:<ms>" in the show's meta hash; a value that differs from it is logged if the
-- last one is at least the gap old. Whichever node calls first logs it; the others find
-- it logged.
--
-- KEYS[1] meta, KEYS[2] seq; when ARGV[1] names a show, KEYS[3] its state log and
-- KEYS[4] its meta hash.
-- ARGV[1] the show the caller expects to be logged ('' for none); ARGV[2] now (ms);
-- ARGV[3] the sampling gap (ms); then product/units pairs as this node read them.
-- Returns the pairs as logged now (the caller's own when no show is logged: nothing to
-- catch up on; '' for a product never logged), or the error SHOWLOG <show> (prelude).
local meta, seq_key = KEYS[1], KEYS[2]
local moved = check_show(meta, ARGV[1])
if moved then return moved end
local logged, changed = {}, {}
if ARGV[1] == "" then
  for i = 4, #ARGV do logged[#logged + 1] = ARGV[i] end
  return logged
end
local stream, show_meta = KEYS[3], KEYS[4]
local now, gap = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV, 2 do
  local pid, units = ARGV[i], ARGV[i + 1]
  local last = redis.call("HGET", show_meta, "stock:" .. pid)
  local value, at = nil, 0
  if last then
    value, at = string.match(last, "^(-?%d+):(%d+)$")
    at = tonumber(at)
  end
  if value ~= units and now - at >= gap then
    redis.call("HSET", show_meta, "stock:" .. pid, units .. ":" .. now)
    changed[#changed + 1] = cjson.encode(pid) .. ":" .. units
    value = units
  end
  logged[#logged + 1] = pid
  logged[#logged + 1] = value or ""
end
if #changed == 0 then return logged end
keep_for_show(meta, show_meta)
if show_log_full(meta, stream, show_meta) then return logged end
local seq = redis.call("GET", seq_key) or "0"
redis.call("XADD", stream, "*", "e", '{"seq":' .. seq .. ',"type":"stock","ts":' .. now ..
  ',"stock":{' .. table.concat(changed, ",") .. "}}")
keep_for_show(meta, stream)
return logged
