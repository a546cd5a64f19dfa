-- Set a room's currency, unless the room already has money in another one (a ledger is not re-denominated).
-- KEYS: meta, counters, orders, deals index   ARGV: currency, channel, publish_cmd
-- Money is any counted order (the orders hash, counters orders/refunds/gmv_cents), any gift value or any
-- deal. Returns {"ok", currency} (also when it was already that currency: a retry changes nothing), or
-- {"money", current} and changes nothing. A change is published as the room channel message
-- {"type":"stage","name":"currency","value":C} (livecart/store/channel.py).
local meta, counters, orders, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local currency = ARGV[1]
local current = redis.call('HGET', meta, 'currency')
if current == currency then return {'ok', currency} end
local function counter(name) return tonumber(redis.call('HGET', counters, name) or '0') ~= 0 end
if redis.call('EXISTS', orders) == 1 or redis.call('ZCARD', index) > 0 or counter('orders')
    or counter('refunds') or counter('gmv_cents') or counter('gifts_value_cents') then
  return {'money', current or ''}
end
redis.call('HSET', meta, 'currency', currency)
redis.call(ARGV[3], ARGV[2], cjson.encode({type = 'stage', name = 'currency', value = currency}))
return {'ok', currency}
