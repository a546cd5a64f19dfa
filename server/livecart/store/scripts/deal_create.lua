-- Create a deal. KEYS: deal, deals index   ARGV: prefix, channel, publish_cmd, by, then field/value pairs
-- (id, product_*, price_cents, deal_price_cents, stock, limit_per_user, duration_ms, starts_at, keyword).
-- starts_at 0 means "now" (Redis's clock). Returns the deal's fields.
local deal, index = KEYS[1], KEYS[2]
local prefix, channel, cmd, by = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', deal) == 1 then  -- a retried create: the deal is already there
  local _, flat = hash(deal)
  return flat
end
local now = now_ms()
for i = 5, #ARGV, 2 do redis.call('HSET', deal, ARGV[i], ARGV[i + 1]) end
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
