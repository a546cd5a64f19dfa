-- Store and publish cues, at most one per de-duplication key per cooldown.
-- KEYS: cues (hash), cue order (zset), cue keys (zset)
-- ARGV: now_ms, channel, publish_cmd, retention_ms, n, then n quadruples: key ("" for none), cooldown_ms,
--       cue id, CUE JSON
-- Publishes each stored cue as the room channel message {"type":"cue","cue":CUE} (livecart/store/channel.py).
-- Returns one char per cue: "1" stored and published, "0" refused (its key fired within its cooldown).
-- The director's engine already de-duplicates; this is the guard for a lease handover, when two nodes
-- might briefly both believe they run the room.
local cues, order, guard = KEYS[1], KEYS[2], KEYS[3]
local now, retention, n = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', guard, '-inf', now - 86400000)
local flags = {}
for i = 0, n - 1 do
  local key, cooldown, id, body = ARGV[6 + 4 * i], tonumber(ARGV[7 + 4 * i]), ARGV[8 + 4 * i], ARGV[9 + 4 * i]
  local last = false
  if key ~= '' then last = redis.call('ZSCORE', guard, key) end
  if last and now - tonumber(last) < cooldown then
    flags[#flags + 1] = '0'
  else
    if key ~= '' then redis.call('ZADD', guard, now, key) end
    redis.call('HSET', cues, id, body)
    redis.call('ZADD', order, now, id)
    redis.call(ARGV[3], ARGV[2], '{"type":"cue","cue":' .. body .. '}')
    flags[#flags + 1] = '1'
  end
end
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, retention) end
return table.concat(flags)
