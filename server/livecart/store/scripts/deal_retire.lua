-- Retire a deal once `retention_ms` have passed since it closed (stopped, or ended at ends_at): its keys,
-- its claim records and holds, its funnel marks and its place in the deals index go. The report can be
-- made until then. KEYS: deals index   ARGV: prefix, deal id, retention_ms, max claim records this call
-- Returns 0 (still kept: open, or closed less than retention_ms ago), 1 (retired) or 2 (claim records
-- remain: call again; each call removes at most that many, so Redis is never blocked for long).
local prefix, id, keep, chunk = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local dk = deal_key(prefix, id)
if redis.call('TYPE', dk).ok == 'hash' then
  local f = redis.call('HMGET', dk, 'status', 'stopped_at', 'ends_at')
  local closed = tonumber(f[3])
  if f[1] == 'stopped' and tonumber(f[2]) then closed = math.min(closed or math.huge, tonumber(f[2])) end
  if not closed or now_ms() < closed + keep then return 0 end
end
local ids = redis.call('SPOP', dk .. ':claimids', chunk)
if #ids > 0 then
  redis.call('HDEL', prefix .. 'claims', unpack(ids))
  redis.call('ZREM', prefix .. 'holds', unpack(ids))
  if redis.call('SCARD', dk .. ':claimids') > 0 then return 2 end
end
redis.call('DEL', dk, dk .. ':keys', dk .. ':users', dk .. ':buyers', dk .. ':external', dk .. ':ops',
           dk .. ':claimids', dk .. ':bonus')
redis.call('ZREM', KEYS[1], id)
redis.call('HDEL', prefix .. 'funnel', id .. ':launch_viewers', id .. ':sold_out_at')
return 1
