-- Stop logging a show (chat.show_log.ShowLog.end), if it is the one being logged, and
-- keep its log for the retention from now on.
-- KEYS[1] the room's meta hash; KEYS[2..4] the show's log, state log and meta hash.
-- ARGV[1] the show; ARGV[2] the retention (ms).
if redis.call("HGET", KEYS[1], "show_log") == ARGV[1] then
  redis.call("HDEL", KEYS[1], "show_log", "show_log_ttl", "show_log_max")
end
for i = 2, 4 do
  if redis.call("EXISTS", KEYS[i]) == 1 then redis.call("PEXPIRE", KEYS[i], ARGV[2]) end
end
return 0
