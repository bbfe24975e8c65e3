-- Emit one room event (chat.store.RoomStore.emit): the writes that go with it, the next
-- seq, the history entry, the publish and, while a show is logged, the show's log; or,
-- with an empty record, the writes and an unsequenced message published. All or nothing:
-- every check comes before the first write.
--
-- KEYS[1] meta, KEYS[2] seq, KEYS[3] history; then, when ARGV[4] names a show, that
-- show's log, state log and meta hash; then, for a viewer's chat message, its bucket,
-- its address's bucket and the banned addresses; then the keys of the writes.
-- ARGV[1] the room's channel; ARGV[2] the event's record (JSON, without seq) or '';
-- ARGV[3] how many history entries to keep; ARGV[4] the show the caller expects to be
-- logged ('' for none); ARGV[5] how many writes; ARGV[6] how many chat budget arguments
-- follow (0, or 5: viewer rate and burst, address rate and burst, address digest);
-- then each write as: command, index of its key in KEYS, argument count, arguments;
-- last, for an unsequenced message, the message.
-- Returns the event's seq (0 for an unsequenced message), or an error: NOROOM, SHOWLOG
-- <show> (see the prelude), a chat refusal (chat_budget.lua), BADOP <command>.
local meta, seq_key, history = KEYS[1], KEYS[2], KEYS[3]
if redis.call("EXISTS", meta) == 0 then return redis.error_reply("NOROOM") end
local sequenced = ARGV[2] ~= ""
local n = 3
local show_log, show_state, show_meta
if ARGV[4] ~= "" then
  show_log, show_state, show_meta = KEYS[4], KEYS[5], KEYS[6]
  n = 6
end
if sequenced then
  local moved = check_show(meta, ARGV[4])
  if moved then return moved end
end
local budget_args = tonumber(ARGV[6])
if budget_args > 0 then
  local refused = take_chat_budget(meta, KEYS[n + 1], KEYS[n + 2], KEYS[n + 3],
    tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11])
  if refused then return refused end
end

local allowed = {HSET=true, HDEL=true, SET=true, DEL=true, SADD=true, SREM=true, ZREM=true,
  REDACT=true, UNBANADDR=true}
local function seq_of(record) return tonumber(string.match(record, '^{"seq":(%d+)')) end
local i = 7 + budget_args
for _ = 1, tonumber(ARGV[5]) do
  local cmd = ARGV[i]
  if not allowed[cmd] then return redis.error_reply("BADOP " .. cmd) end
  local k = KEYS[tonumber(ARGV[i + 1])]
  local nargs = tonumber(ARGV[i + 2])
  local args = {}
  for j = 1, nargs do args[j] = ARGV[i + 2 + j] end
  if cmd == "UNBANADDR" then
    -- args: the unbanned vid; forget the addresses it was banned on
    local all = redis.call("HGETALL", k)
    for j = 1, #all, 2 do
      if all[j + 1] == args[1] then redis.call("HDEL", k, all[j]) end
    end
  elseif cmd == "REDACT" then
    -- args: the deleted message's seq, its tombstone; the history holds consecutive seqs
    local first = redis.call("LINDEX", k, 0)
    local target = tonumber(args[1])
    if first and seq_of(first) and target >= seq_of(first) then
      local index = target - seq_of(first)
      local held = redis.call("LINDEX", k, index)
      if held and seq_of(held) == target and string.find(held, '"type":"chat"', 1, true) then
        redis.call("LSET", k, index, args[2])
      end
    end
  else
    redis.call(cmd, k, unpack(args))
  end
  i = i + 3 + nargs
end

if not sequenced then
  redis.call(PUBLISH, ARGV[1], ARGV[#ARGV])
  return 0
end
local seq = redis.call("INCR", seq_key)
local msg = '{"seq":' .. seq .. "," .. string.sub(ARGV[2], 2)
redis.call("RPUSH", history, msg)
redis.call("LTRIM", history, -tonumber(ARGV[3]), -1)
redis.call(PUBLISH, ARGV[1], "E" .. msg)
if show_log then
  -- chat messages go to the show's log, every other event to its state log
  local stream = show_state
  if string.find(string.sub(ARGV[2], 1, 40), '"type":"chat"', 1, true) then stream = show_log end
  if show_log_full(meta, stream, show_meta) then return seq end
  redis.call("XADD", stream, "*", "e", msg)
  keep_for_show(meta, stream)
end
return seq
