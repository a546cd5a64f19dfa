-- The events after `since`, if the room's history (same epoch) still reaches back to it.
-- KEYS: meta, log   ARGV: since, epoch, limit
-- Returns {"ok", epoch, offset, events...} or {"gap", epoch, offset}.
local meta, log = KEYS[1], KEYS[2]
local since, limit = tonumber(ARGV[1]), tonumber(ARGV[3])
local epoch = redis.call('HGET', meta, 'epoch')
local offset = tonumber(redis.call('HGET', meta, 'offset') or '0')
if not epoch or epoch ~= ARGV[2] or since > offset or since < 0 then
  return {'gap', epoch or '', offset}
end
if since == offset then return {'ok', epoch, offset} end
local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
if not oldest[1] or tonumber(string.match(oldest[1][1], '^(%d+)')) > since + 1 then
  return {'gap', epoch, offset}
end
local out = {'ok', epoch, offset}
for _, entry in ipairs(redis.call('XRANGE', log, (since + 1) .. '-0', '+', 'COUNT', limit)) do
  out[#out + 1] = entry[2][2]
end
return out
