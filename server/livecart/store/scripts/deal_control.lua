-- start | stop | restock | keyword a deal.
-- KEYS: deal   ARGV: prefix, channel, publish_cmd, by, op, value, op_id
-- Publishes the deal's fields with lib.lua publish_deal: room channel type "deal" (livecart/store/channel.py).
-- Returns {'ok', fields...} or {'err', code}. An op_id already applied changes nothing (a client
-- library retrying after a lost reply must not restock twice).
local deal = KEYS[1]
local prefix, channel, cmd, by, op, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
-- A key of another type, or a hash without a deal's fields, is no deal (never a WRONGTYPE error).
if redis.call('TYPE', deal).ok ~= 'hash' then return {'err', 'no_such_deal'} end
local d, current = hash(deal)
if not d.id or not tonumber(d.ends_at) or not tonumber(d.starts_at) then return {'err', 'no_such_deal'} end
local ops = deal .. ':ops'
if redis.call('SISMEMBER', ops, ARGV[7]) == 1 then return {'ok', unpack(current)} end
local now = now_ms()
local closed = deal_closed(d, now)
if op == 'start' then
  if closed then return {'err', 'deal_closed'} end
  deal_start(deal, d, now)
elseif op == 'stop' then
  if now >= tonumber(d.ends_at) and d.status ~= 'stopped' then return {'err', 'deal_closed'} end
  redis.call('HSET', deal, 'status', 'stopped', 'stopped_at', now)
elseif op == 'restock' then
  if closed then return {'err', 'deal_closed'} end
  deal_restock(deal, tonumber(value))
elseif op == 'keyword' then
  redis.call('HSET', deal, 'keyword', value)
else
  return {'err', 'bad_op'}
end
redis.call('SADD', ops, ARGV[7])  -- only applied ops: a retried refusal is refused again
redis.call('EXPIRE', ops, 86400)
ledger(prefix, 'op', op, 'deal', d.id, 'by', by, 'at', now, 'value', value)
publish_deal(prefix, d.id, channel, cmd)
local _, flat = hash(deal)
return {'ok', unpack(flat)}
