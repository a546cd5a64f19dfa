-- Take or keep the director's lease of a room, and say what the room's news markers are.
-- KEYS: lease, meta, deals, presence   ARGV: holder id, ttl_ms, now_ms
-- Returns {0} when someone else holds the lease, else {1, offset, deals, online}: the room's last
-- assigned offset, how many deals it has, and its viewer sockets across live nodes (as presence.lua
-- counts them, read-only). A director that sees the same markers as at its last step knows that no
-- event, no deal and no viewer came or went meanwhile (director.py: idle rooms are not stepped).
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  return {0}
end
local now = tonumber(ARGV[3])
local online = 0
local all = redis.call('HGETALL', KEYS[4])
for i = 2, #all, 2 do
  local c, expires = string.match(all[i], '^(%d+):(%d+)$')
  if c and tonumber(expires) > now then
    online = online + tonumber(c)
  end
end
local offset = tonumber(redis.call('HGET', KEYS[2], 'offset') or '0') or 0
return {1, offset, redis.call('ZCARD', KEYS[3]), online}
