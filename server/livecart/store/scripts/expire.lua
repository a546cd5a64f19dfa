-- Release every hold whose time has come. Safe to run on every node at once: each release happens
-- exactly once (settle checks the claim's state inside this atomic script).
-- KEYS: holds   ARGV: prefix, channel, publish_cmd, limit
-- Publishes the deal's fields with lib.lua publish_deal: room channel type "deal" (livecart/store/channel.py).
-- Returns the number of claims released.
local prefix, channel, cmd = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local touched, n = {}, 0
for _, claim_id in ipairs(due) do
  local _, changed, deal_id = settle(prefix, claim_id, 'expired', now)
  if changed then
    n = n + 1
    touched[deal_id] = true
  elseif deal_id == nil then
    redis.call('ZREM', KEYS[1], claim_id)  -- a hold without a claim record: nothing to release
  end
end
for deal_id in pairs(touched) do publish_deal(prefix, deal_id, channel, cmd) end
return n
