-- Append a batch of validated events to a room, atomically.
-- KEYS: meta, log, counters, ids, orders
-- ARGV: now_ms, epoch_candidate, maxlen, max_age_ms, min_keep, dedup_ms, channel, publish_cmd, n,
--       currency (the one the batch's money was validated in; "" when it carries none), then n quads: event id, event JSON (an object without "offset"), counter deltas "name=int ...",
--       order clause ("paid|refunded <cents> <order id>" or "": events.order_clause)
-- Returns {epoch, first_offset, last_offset, flags}: flags has one char per event, "1" accepted, "0" duplicate;
-- or {"!currency", C} and changes nothing when the room's currency is C, not the batch's: the caller
-- validates the money again in C (its cached currency was stale) and retries.
-- The first money pins the room's currency in meta (a later default or setting cannot re-denominate it).
-- Accepted events get contiguous offsets, are stored in the stream under id "<offset>-0" with the offset
-- spliced into their JSON, move the counters (`platform_viewers` is set to its value, not added), and are published in one room channel message, whose
-- shape is written down in livecart/store/channel.py (type "events"):
--   {"type":"events","epoch":E,"offset":LAST,"counters":[name,value,...],"events":[EVENT,...]}
local meta, log, counters, ids, orders = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = tonumber(ARGV[1])
local maxlen, max_age, min_keep, dedup_ms = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local n = tonumber(ARGV[9])
local currency = ARGV[10]

if currency ~= '' then
  local pinned = redis.call('HGET', meta, 'currency')
  if pinned and pinned ~= currency then return {'!currency', pinned} end
  if not pinned then redis.call('HSET', meta, 'currency', currency) end
end

local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local last = tonumber(redis.call('HGET', meta, 'offset') or '0')
local first = last + 1

redis.call('ZREMRANGEBYSCORE', ids, '-inf', now - dedup_ms)
local flags, out = {}, {}
-- An order counts once per (order id, status), and a refund only against a paid order, up to what was
-- paid: returns the counter deltas and what to splice into the event: `"counted":false` when it does not
-- count, `"counted_cents":N` for a refund larger than the payment (only N comes off GMV).
local function count_order(clause)
  local status, cents, order_id = string.match(clause, '^(%a+) (%d+) (.*)$')
  local prev = redis.call('HGET', orders, order_id)
  local prev_status, prev_cents = nil, 0
  if prev then prev_status, prev_cents = string.match(prev, '^(%a+):(%d+)$') end
  prev_cents = tonumber(prev_cents)
  if status == 'paid' and not prev then
    redis.call('HSET', orders, order_id, 'paid:' .. cents)
    return 'orders=1 gmv_cents=' .. cents, ''
  elseif status == 'refunded' and prev_status == 'paid' then
    redis.call('HSET', orders, order_id, 'refunded:' .. prev_cents)
    local back = math.min(tonumber(cents), prev_cents)
    return 'refunds=1 gmv_cents=-' .. back, (back < tonumber(cents)) and ('"counted_cents":' .. back .. ',') or ''
  end
  return '', '"counted":false,'
end

for i = 0, n - 1 do
  local id, body, deltas, clause = ARGV[11 + 4 * i], ARGV[12 + 4 * i], ARGV[13 + 4 * i], ARGV[14 + 4 * i]
  if redis.call('ZSCORE', ids, id) then
    flags[#flags + 1] = '0'
  else
    flags[#flags + 1] = '1'
    redis.call('ZADD', ids, now, id)
    last = last + 1
    local head = '{"offset":' .. last .. ','
    if clause ~= '' then
      local mark
      deltas, mark = count_order(clause)
      head = head .. mark
    end
    local event = head .. string.sub(body, 2)
    redis.call('XADD', log, 'MAXLEN', '~', maxlen, last .. '-0', 'e', event, 't', now)
    for name, value in string.gmatch(deltas, '(%w[%w_]*)=(-?%d+)') do
      -- A latest value (events.LATEST_COUNTERS: a platform's viewer count) is set; the rest add up.
      if name == 'platform_viewers' then
        redis.call('HSET', counters, name, value)
      else
        redis.call('HINCRBY', counters, name, value)
      end
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
  local message = '{"type":"events","epoch":"' .. epoch .. '","offset":' .. last .. ',"counters":'
    .. cjson.encode(redis.call('HGETALL', counters)) .. ',"events":[' .. table.concat(out, ',') .. ']}'
  redis.call(ARGV[8], ARGV[7], message)
end
return {epoch, first, last, table.concat(flags)}
