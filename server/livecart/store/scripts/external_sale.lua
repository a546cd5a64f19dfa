-- A paid platform order without a claim id, for a product on a live deal: it sells that deal's stock
-- (external stock), once per order event id. KEYS: deals index
-- ARGV: prefix, channel, publish_cmd, product_id, qty, event_id, amount_cents
-- Publishes the deal's fields with lib.lua publish_deal: room channel type "deal" (livecart/store/channel.py).
-- Returns the units taken from the deal (0 when no live deal sells that product).
local prefix, channel, cmd = ARGV[1], ARGV[2], ARGV[3]
local product, qty, event_id, amount = ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local now = now_ms()
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, 49)) do
  local dk = deal_key(prefix, id)
  local d = hash(dk)
  if d.product_id == product and d.status ~= 'stopped' and now >= tonumber(d.starts_at)
      and now < tonumber(d.ends_at) then
    if redis.call('SADD', dk .. ':external', event_id) == 0 then return 0 end
    local n = math.min(qty, tonumber(d.left))
    redis.call('HINCRBY', dk, 'left', -n)
    redis.call('HINCRBY', dk, 'sold', n)
    redis.call('HINCRBY', dk, 'external_sold', n)
    redis.call('HINCRBY', dk, 'gmv_cents', amount)
    if n < qty then redis.call('HINCRBY', dk, 'external_overflow', qty - n) end
    ledger(prefix, 'op', 'external_sale', 'deal', id, 'event', event_id, 'qty', n, 'at', now)
    publish_deal(prefix, id, channel, cmd)
    return n
  end
end
return 0
