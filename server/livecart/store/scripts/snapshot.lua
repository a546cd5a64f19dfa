-- A room's current position and state, atomically.
-- KEYS: meta, log, counters   ARGV: epoch_candidate, recent (how many latest events to include)
-- Returns {epoch, offset, counters (flat name, value list), recent events (JSON, oldest first)}.
local meta, log, counters = KEYS[1], KEYS[2], KEYS[3]
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
return {epoch, offset, redis.call('HGETALL', counters), recent}
