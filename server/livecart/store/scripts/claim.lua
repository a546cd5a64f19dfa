-- Claim units of a deal for a user, atomically: the rules of deals.check_claim, then
-- decrement left, hold the units until expiry, count the user towards the limit.
-- KEYS: deal   ARGV: prefix, channel, publish_cmd, user, qty, key, claim_id, hold_ms
-- Returns {'ok'|'rejected'|'again', reply JSON} or {'err', 'no_such_deal'}.
-- The same (user, key) gets the first reply again and changes nothing.
local deal = KEYS[1]
local prefix, channel, cmd = ARGV[1], ARGV[2], ARGV[3]
local user, qty, key, claim_id, hold_ms = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7], tonumber(ARGV[8])
local f = redis.call('HMGET', deal, 'id', 'status', 'starts_at', 'ends_at', 'limit_per_user', 'left')
if not f[1] then return {'err', 'no_such_deal'} end
local d = {id = f[1], status = f[2], starts_at = f[3], ends_at = f[4], limit_per_user = f[5], left = f[6]}
local keys, users = deal .. ':keys', deal .. ':users'
local idem = user .. '\n' .. key
local prior = redis.call('HGET', keys, idem)
if prior then return {'again', prior} end
local now = now_ms()
redis.call('HINCRBY', deal, 'attempts', 1)
local held_by_user = tonumber(redis.call('HGET', users, user) or '0')
local reason = nil
if not qty or qty < 1 or qty ~= math.floor(qty) then reason = 'invalid_qty'
elseif d.status == 'stopped' or now >= tonumber(d.ends_at) then reason = 'ended'
elseif now < tonumber(d.starts_at) then reason = 'not_live'
elseif held_by_user + qty > tonumber(d.limit_per_user) then reason = 'limit_reached'
elseif qty > tonumber(d.left) then reason = 'sold_out'
end
if reason then
  redis.call('HINCRBY', deal, 'rej_' .. reason, 1)
  local reply = cjson.encode({ok = false, reason = reason})
  redis.call('HSET', keys, idem, reply)
  return {'rejected', reply}
end
local expires = now + hold_ms
redis.call('HINCRBY', deal, 'left', -qty)
redis.call('HINCRBY', deal, 'held', qty)
redis.call('HINCRBY', deal, 'claims', 1)
redis.call('HINCRBY', users, user, qty)
if redis.call('SADD', deal .. ':buyers', user) == 1 then redis.call('HINCRBY', deal, 'buyers', 1) end
redis.call('HSET', prefix .. 'claims', claim_id,
           cjson.encode({deal = d.id, user = user, qty = qty, expires_at = expires, state = 'held'}))
redis.call('ZADD', prefix .. 'holds', expires, claim_id)
ledger(prefix, 'op', 'claim', 'claim', claim_id, 'deal', d.id, 'user', user, 'qty', qty, 'at', now)
local reply = cjson.encode({ok = true, claim = {id = claim_id, deal = d.id, qty = qty, expires_at = expires}})
redis.call('HSET', keys, idem, reply)
publish_claim(prefix, d.id, channel, cmd, now, tonumber(d.left) == qty)
return {'ok', reply}
