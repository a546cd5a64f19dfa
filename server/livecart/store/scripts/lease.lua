-- Take or keep a lease. KEYS: the lease key. ARGV: holder id, ttl_ms.
-- Returns 1 when the caller holds it (taken now or renewed), 0 when someone else does.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
