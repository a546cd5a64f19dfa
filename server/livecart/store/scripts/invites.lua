-- Invite attribution of one room, each operation one atomic call (the rules: livecart/invites.py).
-- lib.lua is prepended (now_ms, hash, ledger).
-- KEYS: the room's invite codes hash (routes the call to the room's shard; the other keys derive from
--       prefix, as the deal scripts' do)
-- ARGV: prefix ("lc:{room}:"), channel, publish_cmd, board size, op, then by op:
--   "code"     user code          remember code -> user; returns the user's progress (see progress())
--   "open"     code user          a share link opened. code "": arrived without one (first touch, direct);
--                                 user "": a viewer without a user id (counts the open, credits no one).
--                                 Returns {answer, inviter}: answer one of unknown, self (nothing
--                                 counted), opened, direct, already, joined.
--   "progress" user               settle the user's due rewards; returns progress()
--   "order"    user order_id status cents
--                                 a paid order of an invited user adds to its inviter's GMV, once per
--                                 order; a refund of a counted order takes it back, once. Returns 1 if
--                                 counted.
--   "settings" overlay target reward cap by
--                                 overlay "1"/"0" or "" (keep); target "" clears the goal, "-" keeps it
--   "coupons"  by code...         append coupon codes to the pool; returns the pool's length
-- Every change of the board publishes it: room channel type "invites" (livecart/store/channel.py):
--   {"type":"invites","board":{"seq":N,"overlay":B,"funnel":{opens,joins,buyers,gmv_minor},
--    "top":[{"user","joins","buyers","gmv_minor"},...]}}
local prefix, channel, cmd, size, op = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local I = prefix .. 'inv:'
local codes, touched, joins, buyers, gmv = KEYS[1], I .. 'touched', I .. 'joins', I .. 'buyers', I .. 'gmv'
local funnel, settings, given, slots = I .. 'funnel', I .. 'settings', I .. 'given', I .. 'slots'
local pool, won, orders, bought = I .. 'coupons', I .. 'won', I .. 'orders', I .. 'bought'

local function publish_board()
  local seq = redis.call('HINCRBY', funnel, 'seq', 1)
  local f = hash(funnel)
  local top = {}
  local rows = redis.call('ZREVRANGE', joins, 0, size - 1, 'WITHSCORES')
  for i = 1, #rows, 2 do
    local u = rows[i]
    top[#top + 1] = {user = u, joins = tonumber(rows[i + 1]),
                     buyers = tonumber(redis.call('HGET', buyers, u) or '0'),
                     gmv_minor = tonumber(redis.call('HGET', gmv, u) or '0')}
  end
  local board = {seq = seq, overlay = redis.call('HGET', settings, 'overlay') == '1',
                 funnel = {opens = tonumber(f.opens or '0'), joins = tonumber(f.joins or '0'),
                           buyers = tonumber(f.buyers or '0'), gmv_minor = tonumber(f.gmv_minor or '0')},
                 top = top}
  redis.call(cmd, channel, cjson.encode({type = 'invites', board = board}))
end

-- Give `user` every reward its joins earned under the goal and it has not had, up to the cap. A coupon
-- reward waits while the pool is empty (it is given at the next join or progress look after an upload).
local function settle_rewards(user)
  local goal = redis.call('HMGET', settings, 'target', 'reward', 'cap')
  local target, reward, cap = tonumber(goal[1]), goal[2], tonumber(goal[3])
  if not target then return end
  local n = tonumber(redis.call('ZSCORE', joins, user) or '0')
  local have = tonumber(redis.call('HGET', given, user) or '0')
  local now = now_ms()
  for _ = 1, math.min(math.floor(n / target), cap) - have do
    local value = '1'
    if reward == 'coupon' then
      local c = redis.call('LPOP', pool)
      if not c then return end
      local prior = redis.call('HGET', won, user)
      redis.call('HSET', won, user, prior and (prior .. ' ' .. c) or c)
      value = c
    else
      redis.call('HINCRBY', slots, user, 1)
    end
    redis.call('HINCRBY', given, user, 1)
    ledger(prefix, 'op', 'invite_reward', 'user', user, 'reward', reward, 'value', value, 'at', now)
  end
end

-- {joins, rewards given, claim slots, coupons won (space-separated), target, reward, cap, invited by,
--  coupons left in the pool}
local function progress(user)
  settle_rewards(user)
  local goal = redis.call('HMGET', settings, 'target', 'reward', 'cap')
  return {tonumber(redis.call('ZSCORE', joins, user) or '0'), tonumber(redis.call('HGET', given, user) or '0'),
          tonumber(redis.call('HGET', slots, user) or '0'), redis.call('HGET', won, user) or '',
          goal[1] or '', goal[2] or '', goal[3] or '', redis.call('HGET', touched, user) or '',
          redis.call('LLEN', pool)}
end

if op == 'code' then
  redis.call('HSET', codes, ARGV[7], ARGV[6])
  return progress(ARGV[6])

elseif op == 'open' then
  local code, user = ARGV[6], ARGV[7]
  if code == '' then
    if user ~= '' and redis.call('HSETNX', touched, user, '') == 1 then return {'direct', ''} end
    return {user ~= '' and 'already' or 'opened', redis.call('HGET', touched, user) or ''}
  end
  local inviter = redis.call('HGET', codes, code)
  if not inviter then return {'unknown', ''} end
  if inviter == user then return {'self', ''} end
  redis.call('HINCRBY', funnel, 'opens', 1)
  local answer = 'opened'
  if user ~= '' then
    if redis.call('HSETNX', touched, user, inviter) == 0 then
      answer = 'already'
    else
      answer = 'joined'
      redis.call('HINCRBY', funnel, 'joins', 1)
      redis.call('ZINCRBY', joins, 1, inviter)
      settle_rewards(inviter)
    end
  end
  publish_board()
  return {answer, answer == 'already' and (redis.call('HGET', touched, user) or '') or inviter}

elseif op == 'progress' then
  return progress(ARGV[6])

elseif op == 'order' then
  local user, order_id, status, cents = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
  local inviter = redis.call('HGET', touched, user)
  if not inviter or inviter == '' then return 0 end
  local prev = redis.call('HGET', orders, order_id)
  if status == 'paid' and not prev then
    redis.call('HSET', orders, order_id, 'paid:' .. cents)
    redis.call('HINCRBY', gmv, inviter, cents)
    redis.call('HINCRBY', funnel, 'gmv_minor', cents)
    if redis.call('SADD', bought, user) == 1 then
      redis.call('HINCRBY', buyers, inviter, 1)
      redis.call('HINCRBY', funnel, 'buyers', 1)
    end
  elseif status == 'refunded' and prev and string.sub(prev, 1, 5) == 'paid:' then
    local paid = tonumber(string.sub(prev, 6))
    redis.call('HSET', orders, order_id, 'refunded:' .. paid)
    redis.call('HINCRBY', gmv, inviter, -paid)
    redis.call('HINCRBY', funnel, 'gmv_minor', -paid)
  else
    return 0
  end
  publish_board()
  return 1

elseif op == 'settings' then
  local overlay, target, reward, cap, by = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
  if overlay ~= '' then redis.call('HSET', settings, 'overlay', overlay) end
  if target == '' then
    redis.call('HDEL', settings, 'target', 'reward', 'cap')
  elseif target ~= '-' then
    redis.call('HSET', settings, 'target', target, 'reward', reward, 'cap', cap)
  end
  ledger(prefix, 'op', 'invite_settings', 'by', by, 'overlay', overlay, 'target', target,
         'reward', reward, 'cap', cap, 'at', now_ms())
  publish_board()
  return 1

elseif op == 'coupons' then
  local n = redis.call('RPUSH', pool, unpack(ARGV, 7))
  ledger(prefix, 'op', 'invite_coupons', 'by', ARGV[6], 'added', #ARGV - 6, 'at', now_ms())
  return n
end
return redis.error_reply('unknown op ' .. tostring(op))
