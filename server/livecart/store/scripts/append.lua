-- Append a batch of validated events to a room, atomically.
-- KEYS: meta, log, counters, ids
-- ARGV: now_ms, epoch_candidate, maxlen, max_age_ms, min_keep, dedup_ms, channel, publish_cmd, n,
--       then n triples: event id, event JSON (an object without "offset"), counter deltas "name=int ..."
-- Returns {epoch, first_offset, last_offset, flags}: flags has one char per event, "1" accepted, "0" duplicate.
-- Accepted events get contiguous offsets, are stored in the stream under id "<offset>-0" with the offset
-- spliced into their JSON, move the counters, and are published in one message:
--   {"epoch":E,"offset":LAST,"counters":[name,value,...],"events":[EVENT,...]}
local meta, log, counters, ids = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = tonumber(ARGV[1])
local maxlen, max_age, min_keep, dedup_ms = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local n = tonumber(ARGV[9])

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local last = tonumber(redis.call('HGET', meta, 'offset') or '0')
local first = last + 1

redis.call('ZREMRANGEBYSCORE', ids, '-inf', now - dedup_ms)
local flags, out = {}, {}
for i = 0, n - 1 do
  local id, body, deltas = ARGV[10 + 3 * i], ARGV[11 + 3 * i], ARGV[12 + 3 * i]
  if redis.call('ZSCORE', ids, id) then
    flags[#flags + 1] = '0'
  else
    flags[#flags + 1] = '1'
    redis.call('ZADD', ids, now, id)
    last = last + 1
    local event = '{"offset":' .. last .. ',' .. string.sub(body, 2)
    redis.call('XADD', log, 'MAXLEN', '~', maxlen, last .. '-0', 'e', event, 't', now)
    for name, value in string.gmatch(deltas, '(%w[%w_]*)=(-?%d+)') do
      redis.call('HINCRBY', counters, name, value)
    end
    out[#out + 1] = event
  end
end

if #out > 0 then
  redis.call('HSET', meta, 'offset', last)
  -- Age bound, amortised: look at the oldest entry only; trim a chunk of expired ones when it is old.
  -- The newest min_keep events are never trimmed by age.
  if max_age > 0 and last > min_keep then
    local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
    if oldest[1] and tonumber(oldest[1][2][4]) < now - max_age then
      local cut = nil
      for _, entry in ipairs(redis.call('XRANGE', log, '-', '+', 'COUNT', 256)) do
        local off = tonumber(string.match(entry[1], '^(%d+)'))
        if off > last - min_keep or tonumber(entry[2][4]) >= now - max_age then break end
        cut = off
      end
      if cut then redis.call('XTRIM', log, 'MINID', (cut + 1) .. '-0') end
    end
  end
  local message = '{"epoch":"' .. epoch .. '","offset":' .. last .. ',"counters":'
    .. cjson.encode(redis.call('HGETALL', counters)) .. ',"events":[' .. table.concat(out, ',') .. ']}'
  redis.call(ARGV[8], ARGV[7], message)
end
return {epoch, first, last, table.concat(flags)}
