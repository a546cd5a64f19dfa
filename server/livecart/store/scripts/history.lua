-- The events after `since`, if the room's history (same epoch) still reaches back to it.
-- KEYS: meta, log, counters   ARGV: since, epoch
-- Returns {"ok", epoch, offset, counters (flat), events...} or {"gap", epoch, offset}.
local meta, log, counters = KEYS[1], KEYS[2], KEYS[3]
local since = tonumber(ARGV[1])
local epoch = redis.call('HGET', meta, 'epoch')
local offset = tonumber(redis.call('HGET', meta, 'offset') or '0')
if not epoch or epoch ~= ARGV[2] or since > offset or since < 0 then
  return {'gap', epoch or '', offset}
end
local out = {'ok', epoch, offset, redis.call('HGETALL', counters)}
if since == offset then return out end
local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
if not oldest[1] or tonumber(string.match(oldest[1][1], '^(%d+)')) > since + 1 then
  return {'gap', epoch, offset}
end
for _, entry in ipairs(redis.call('XRANGE', log, (since + 1) .. '-0', '+')) do
  out[#out + 1] = entry[2][2]
end
return out
