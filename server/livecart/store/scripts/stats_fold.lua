-- Add per-second deltas to a room's stats buckets and move the fold cursor, atomically and only if
-- the cursor is where the caller read it (so no event is ever counted twice, whoever folds).
-- KEYS: stats (hash), stats cursor (hash)
-- ARGV: expected cursor "epoch:offset" ("" for none), new cursor, claims total, rejections total,
--       retention_ms, n, then n pairs: unix second, deltas "name=int ..."
-- `viewers` is a gauge (set); every other metric adds. Returns 1, or 0 when the cursor had moved.
local stats, cursor = KEYS[1], KEYS[2]
if (redis.call('HGET', cursor, 'at') or '') ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[6])
for i = 0, n - 1 do
  local second, deltas = ARGV[7 + 2 * i], ARGV[8 + 2 * i]
  local raw = redis.call('HGET', stats, second)
  local bucket = raw and cjson.decode(raw) or {}
  for name, value in string.gmatch(deltas, '([%w_]+)=(-?%d+)') do
    if name == 'viewers' then
      bucket[name] = tonumber(value)
    else
      bucket[name] = (bucket[name] or 0) + tonumber(value)
    end
  end
  redis.call('HSET', stats, second, cjson.encode(bucket))
end
redis.call('HSET', cursor, 'at', ARGV[2], 'claims', ARGV[3], 'rejections', ARGV[4])
redis.call('PEXPIRE', stats, ARGV[5])
redis.call('PEXPIRE', cursor, ARGV[5])
return 1
