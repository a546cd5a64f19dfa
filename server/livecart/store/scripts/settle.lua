-- Settle one claim: paid | cancelled | refunded | expired (expired only once its hold has run out).
-- KEYS: claims   ARGV: prefix, channel, publish_cmd, claim_id, outcome
-- Publishes the deal's fields with lib.lua publish_deal: room channel type "deal" (livecart/store/channel.py).
-- Returns {state after, changed 0|1}. Repeating a settlement changes nothing.
local prefix, channel, cmd = ARGV[1], ARGV[2], ARGV[3]
local state, changed, deal_id = settle(prefix, ARGV[4], ARGV[5], now_ms())
if changed then publish_deal(prefix, deal_id, channel, cmd) end
return {state, changed and 1 or 0}
