-- Note deliveries of a source into a room (store/source_store.py SourceStore.note), atomically: one
-- webhook delivery, or the ingest deliveries of a second added up (livecart/source_log.py).
-- KEYS[1] lc:{room}:sources (zset: source id -> last delivery ms)
-- KEYS[2] lc:{room}:source:<id> (hash: via, first_at, last_at, deliveries, accepted, duplicates,
--         rejected, unmapped)
-- KEYS[3] lc:{room}:source-deliveries (zset: webhook delivery ids -> first ms, 24 h)
-- ARGV: source id, via, now ms, accepted, duplicates, rejected, unmapped, delivery id ('' for none),
--       max sources, keep ms, room key prefix, deliveries
-- A delivery id seen before counts its `unmapped` no more (a shop retrying an unmapped topic).
-- Past `max sources`, the least recently delivering sources are forgotten, hash and all (their hash
-- keys are built from the prefix: every one carries the room's hash tag).
local id, via, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local unmapped = tonumber(ARGV[7])
local delivery, keep = ARGV[8], tonumber(ARGV[10])
if delivery ~= '' then
  if redis.call('ZADD', KEYS[3], 'NX', now, delivery) == 0 then
    unmapped = 0
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 86400000)
  redis.call('PEXPIRE', KEYS[3], 86400000)
end
redis.call('ZADD', KEYS[1], now, id)
redis.call('HSETNX', KEYS[2], 'first_at', now)
redis.call('HSET', KEYS[2], 'via', via, 'last_at', now)
redis.call('HINCRBY', KEYS[2], 'deliveries', tonumber(ARGV[12]))
local counts = {accepted = ARGV[4], duplicates = ARGV[5], rejected = ARGV[6], unmapped = unmapped}
for name, n in pairs(counts) do
  if tonumber(n) > 0 then
    redis.call('HINCRBY', KEYS[2], name, n)
  end
end
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[9])
if extra > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[1], 0, extra - 1)) do
    redis.call('DEL', ARGV[11] .. 'source:' .. old)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
end
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
return 1
