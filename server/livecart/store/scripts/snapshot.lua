-- A room's current position and state, atomically.
-- KEYS: meta, log, counters, deals index   ARGV: epoch_candidate, recent (latest events to include),
-- prefix ("lc:{room}:"), deals (how many of the newest deals to include), then the stage's field names
-- (store/values.py STAGE)
-- Returns {epoch, offset, counters (flat), recent events (JSON, oldest first), deals (flat lists),
-- stage (the JSON of meta's STAGE fields, in ARGV order; nil where unset), currency (false when unset)}.
local meta, log, counters, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local offset = tonumber(redis.call('HGET', meta, 'offset') or '0')
local recent = {}
local n = tonumber(ARGV[2])
if n > 0 then
  local entries = redis.call('XREVRANGE', log, '+', '-', 'COUNT', n)
  for i = #entries, 1, -1 do recent[#recent + 1] = entries[i][2][2] end
end
local deals = {}
for _, id in ipairs(redis.call('ZREVRANGE', index, 0, tonumber(ARGV[4]) - 1)) do
  deals[#deals + 1] = redis.call('HGETALL', ARGV[3] .. 'deal:' .. id)
end
return {epoch, offset, redis.call('HGETALL', counters), recent, deals, redis.call('HMGET', meta, unpack(ARGV, 5)),
        redis.call('HGET', meta, 'currency')}
