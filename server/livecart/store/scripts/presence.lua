-- Record this node's socket count for a room and return the room's total across live nodes.
-- KEYS: presence   ARGV: node_id, count, now_ms, ttl_ms
-- A node that dies stops refreshing its field; it is ignored after ttl and deleted by the next caller,
-- so a dead node leaves no ghost viewers.
local key, node, count, now, ttl = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if count > 0 then
  redis.call('HSET', key, node, count .. ':' .. (now + ttl))
else
  redis.call('HDEL', key, node)
end
local total = 0
local all = redis.call('HGETALL', key)
for i = 1, #all, 2 do
  local c, expires = string.match(all[i + 1], '^(%d+):(%d+)$')
  if c and tonumber(expires) > now then
    total = total + tonumber(c)
  else
    redis.call('HDEL', key, all[i])
  end
end
redis.call('PEXPIRE', key, ttl * 10)
return total
