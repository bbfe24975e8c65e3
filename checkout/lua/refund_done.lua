-- The provider refunded a late charge. ARGV[3] reservation id, ARGV[4] refund id.
-- Records the refund id on the hold and takes it off the room's refunds set. Idempotent.
local rid, refund_id = ARGV[3], ARGV[4]
local hold_key = P .. "hold:" .. rid
if redis.call("HGET", hold_key, "state") == "refunded" then
  redis.call("HSET", hold_key, "refund_id", refund_id, "refunded_at", NOW)
  redis.call("PEXPIRE", hold_key, KEY_TTL)
end
redis.call("ZREM", P .. "refunds", rid)
return ok({refund_id = refund_id})
