-- Add per-second deltas to a room's stats buckets and move the fold cursor, atomically and only if
-- the cursor is where the caller read it (so no event is ever counted twice, whoever folds).
-- KEYS: stats cursor (hash), stats days (zset)
-- ARGV: expected cursor "epoch:offset" ("" for none), new cursor, claims total, rejections total,
--       retention_ms, key prefix, n, then n pairs: unix second, deltas "name=int ..."
-- Buckets live in one hash per UTC day, prefix .. "stats:" .. day (the room's hash tag is in the
-- prefix), each expiring retention_ms after its last write, so old days go on their own.
-- `viewers` and `platform_viewers` are gauges (set: stats.GAUGES); every other metric adds. Returns 1, or 0 when the cursor had moved.
local cursor, days = KEYS[1], KEYS[2]
if (redis.call('HGET', cursor, 'at') or '') ~= ARGV[1] then return 0 end
local retention, prefix, n = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local touched = {}
for i = 0, n - 1 do
  local second, deltas = ARGV[8 + 2 * i], ARGV[9 + 2 * i]
  local day = math.floor(tonumber(second) / 86400)
  local stats = prefix .. 'stats:' .. day
  touched[day] = stats
  local raw = redis.call('HGET', stats, second)
  local bucket = raw and cjson.decode(raw) or {}
  for name, value in string.gmatch(deltas, '([%w_]+)=(-?%d+)') do
    if name == 'viewers' or name == 'platform_viewers' then
      bucket[name] = tonumber(value)
    else
      bucket[name] = (bucket[name] or 0) + tonumber(value)
    end
  end
  redis.call('HSET', stats, second, cjson.encode(bucket))
end
for day, stats in pairs(touched) do
  redis.call('PEXPIRE', stats, retention)
  redis.call('ZADD', days, day, day)
end
redis.call('HSET', cursor, 'at', ARGV[2], 'claims', ARGV[3], 'rejections', ARGV[4])
redis.call('PEXPIRE', cursor, retention)
redis.call('PEXPIRE', days, retention)
return 1
