-- Create a deal. KEYS: deal, deals index, room meta   ARGV: prefix, channel, publish_cmd, by, currency,
-- then field/value pairs (id, product_*, price_cents, deal_price_cents, stock, limit_per_user,
-- duration_ms, starts_at, keyword, currency).
-- Publishes the deal's fields with lib.lua publish_deal: room channel type "deal" (livecart/store/channel.py).
-- starts_at 0 means "now" (Redis's clock). Returns the deal's fields, or {"!currency", C} and creates
-- nothing when the room's currency is C, not the one the prices were validated in (a stale cache: the
-- caller validates again). A deal is money: it pins the room's currency, as append.lua does.
local deal, index, meta = KEYS[1], KEYS[2], KEYS[3]
local prefix, channel, cmd, by, currency = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', deal) == 1 then  -- a retried create: the deal is already there
  local _, flat = hash(deal)
  return flat
end
local pinned = redis.call('HGET', meta, 'currency')
if pinned and pinned ~= currency then return {'!currency', pinned} end
if not pinned then redis.call('HSET', meta, 'currency', currency) end
local now = now_ms()
for i = 6, #ARGV, 2 do redis.call('HSET', deal, ARGV[i], ARGV[i + 1]) end
local starts = tonumber(redis.call('HGET', deal, 'starts_at'))
if starts == 0 then starts = now end
local stock = redis.call('HGET', deal, 'stock')
redis.call('HSET', deal, 'starts_at', starts, 'ends_at', starts + tonumber(redis.call('HGET', deal, 'duration_ms')),
           'left', stock, 'held', 0, 'sold', 0, 'buyers', 0, 'attempts', 0, 'claims', 0, 'paid', 0,
           'released', 0, 'gmv_cents', 0, 'status', 'open', 'created_at', now)
local id = redis.call('HGET', deal, 'id')
redis.call('ZADD', index, now, id)
ledger(prefix, 'op', 'create', 'deal', id, 'by', by, 'at', now, 'stock', stock)
publish_deal(prefix, id, channel, cmd)
local _, flat = hash(deal)
return flat
