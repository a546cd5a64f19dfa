-- Lucky bags (livecart/lucky_bag.py has the rules and the draw; store/bag_store.py calls this).
-- One script, one operation per call (ARGV[1]), so every state change of a bag is atomic and the
-- public BAG map is built in one place (`publish`). lib.lua and bag_lib.lua (bag_create,
-- bag_public, bag_publish: goal.lua opens bags too) are prepended.
-- KEYS[1]: the room's meta hash (routes the call to the room's shard)
-- ARGV: op, prefix ("lc:{room}:"), channel, publish_cmd, bag id ("" for the room's current bag), then
-- the op's own arguments.
-- Keys, all under the room's prefix:
--   bag:<id>            hash: id, state, product_*, winners, keyword, follows, present, duration_ms,
--                       claim_ms, seed, commitment, opens_at, ends_at, closed_at, round, draw_count,
--                       claim_until, published_at, published_entrants, absent:<r>, round:<r> (JSON)
--   bag:<id>:entrants   hash: user -> display name (HLEN is the live count)
--   bag:<id>:away       set: entrants whose last presence signal was a leave
--   bag:<id>:winners    hash: user -> "pending:<round>" | "claimed:<round>:<ms>" | "expired:<round>"
--   bags                sorted set: bag ids by creation ms        followers  set: users who followed
--   meta                field bag_open = the bag not yet done/cancelled; field bag = its public BAG JSON
-- Publishes {"type":"stage","name":"bag","value":BAG} and {"type":"won",...} (livecart/store/channel.py).
local meta = KEYS[1]
local op, prefix, channel, cmd = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local id = ARGV[5]
if id == '' then id = redis.call('HGET', meta, 'bag_open') or '' end
local bag = prefix .. 'bag:' .. id
local entrants, away, winners = bag .. ':entrants', bag .. ':away', bag .. ':winners'
local PUBLISH_EVERY_MS = 100  -- entry counts: a storm of entries costs each node ~10 messages a second

local function public() return bag_public(prefix, id) end
local function publish(now) return bag_publish(prefix, meta, channel, cmd, id, now) end

local function finish(now, state)
  redis.call('HSET', bag, 'state', state)
  if redis.call('HGET', meta, 'bag_open') == id then redis.call('HDEL', meta, 'bag_open') end
  ledger(prefix, 'op', 'bag_' .. state, 'bag', id, 'at', now)
end

local function members(key)
  local list = redis.call('SMEMBERS', key)
  if #list == 0 then return '[]' end
  return cjson.encode(list)
end

local now = now_ms()

if op == 'create' then
  -- ARGV[6]: by, then field/value pairs (id, product_*, winners, keyword, follows, present, duration_ms,
  -- claim_ms, seed, commitment). A retried create finds its bag and changes nothing.
  local fields = {}
  for i = 7, #ARGV, 2 do fields[ARGV[i]] = ARGV[i + 1] end
  return {bag_create(prefix, meta, channel, cmd, id, ARGV[6], fields, now)}
end

if id == '' or redis.call('EXISTS', bag) == 0 then return {'err', 'no_such_bag'} end
local state = redis.call('HGET', bag, 'state')

if op == 'enter' then
  -- ARGV[6..]: user, name pairs (comments that carry the keyword, already matched). Returns
  -- {'ok'|'closed', entrants, code per pair: entered|again|not_following|muted}. The mute is checked
  -- here, in the entry's own atomic call (moderation's RoomKeys.muted, as poll.lua and show.lua do): a
  -- mute that lands an instant before an entry keeps it out.
  local codes = {}
  if state ~= 'open' or now >= tonumber(redis.call('HGET', bag, 'ends_at')) then
    return {'closed', redis.call('HLEN', entrants), id}
  end
  local follows = redis.call('HGET', bag, 'follows') == '1'
  local muted = prefix .. 'muted'
  for i = 6, #ARGV, 2 do
    local user = ARGV[i]
    if redis.call('HEXISTS', muted, user) == 1 then
      codes[#codes + 1] = 'muted'
    elseif follows and redis.call('SISMEMBER', prefix .. 'followers', user) == 0 then
      codes[#codes + 1] = 'not_following'
    elseif redis.call('HSETNX', entrants, user, ARGV[i + 1]) == 1 then
      redis.call('SREM', away, user)  -- commenting is being here
      codes[#codes + 1] = 'entered'
    else
      codes[#codes + 1] = 'again'
    end
  end
  if now - tonumber(redis.call('HGET', bag, 'published_at') or '0') >= PUBLISH_EVERY_MS then publish(now) end
  return {'ok', redis.call('HLEN', entrants), id, unpack(codes)}
end

if op == 'presence' then
  -- ARGV[6..]: user, "away"|"back" pairs, in the order they happened. Only entrants are tracked.
  if state == 'done' or state == 'cancelled' then return {'ok'} end
  for i = 6, #ARGV, 2 do
    if redis.call('HEXISTS', entrants, ARGV[i]) == 1 then
      if ARGV[i + 1] == 'away' then redis.call('SADD', away, ARGV[i]) else redis.call('SREM', away, ARGV[i]) end
    end
  end
  return {'ok'}
end

if op == 'freeze' then
  -- ARGV[6]: "now" (the console's draw) or "due" (a timer). Closes entries (round 1) or expires the
  -- unclaimed prizes (a redraw), and freezes who is absent for that round. Returns
  -- {'wait', due_ms} | {'done'} | {'draw', round, seed, count, absent JSON, N, N entrants..., drawn...}
  if state == 'open' then
    if ARGV[6] ~= 'now' and now < tonumber(redis.call('HGET', bag, 'ends_at')) then
      return {'wait', redis.call('HGET', bag, 'ends_at')}
    end
    local absent = redis.call('HGET', bag, 'present') == '1' and members(away) or '[]'
    redis.call('HSET', bag, 'state', 'drawing', 'round', 1, 'closed_at', now, 'absent:1', absent,
               'draw_count', redis.call('HGET', bag, 'winners'))
    ledger(prefix, 'op', 'bag_close', 'bag', id, 'at', now, 'entrants', redis.call('HLEN', entrants))
    publish(now)
    state = 'drawing'
  elseif state == 'claiming' then
    if now < tonumber(redis.call('HGET', bag, 'claim_until')) then
      return {'wait', redis.call('HGET', bag, 'claim_until')}
    end
    local round = tonumber(redis.call('HGET', bag, 'round'))
    local flat, unclaimed = redis.call('HGETALL', winners), 0
    for i = 1, #flat, 2 do
      if flat[i + 1] == 'pending:' .. round then
        redis.call('HSET', winners, flat[i], 'expired:' .. round)
        unclaimed = unclaimed + 1
      end
    end
    local remaining = redis.call('HLEN', entrants) - redis.call('HLEN', winners)
    if unclaimed == 0 or remaining <= 0 then
      finish(now, 'done')
      publish(now)
      return {'done'}
    end
    local absent = redis.call('HGET', bag, 'present') == '1' and members(away) or '[]'
    redis.call('HSET', bag, 'state', 'drawing', 'round', round + 1, 'absent:' .. (round + 1), absent,
               'draw_count', unclaimed)
    ledger(prefix, 'op', 'bag_redraw', 'bag', id, 'at', now, 'round', round + 1, 'prizes', unclaimed)
    publish(now)
    state = 'drawing'
  end
  if state ~= 'drawing' then return {'done'} end
  local round = redis.call('HGET', bag, 'round')
  local everyone = redis.call('HKEYS', entrants)
  local reply = {'draw', round, redis.call('HGET', bag, 'seed'), redis.call('HGET', bag, 'draw_count'),
                 redis.call('HGET', bag, 'absent:' .. round), #everyone}
  for _, user in ipairs(everyone) do reply[#reply + 1] = user end
  for _, user in ipairs(redis.call('HKEYS', winners)) do reply[#reply + 1] = user end  -- drawn before
  return reply
end

if op == 'commit' then
  -- ARGV[6]: round, ARGV[7..]: its winners, in draw order. Exactly once: only while that round is being
  -- drawn; a second node committing the same round gets {'again', BAG}.
  local round = ARGV[6]
  if state ~= 'drawing' or redis.call('HGET', bag, 'round') ~= round then return {'again', public()} end
  local list = {}
  for i = 7, #ARGV do
    redis.call('HSET', winners, ARGV[i], 'pending:' .. round)
    list[#list + 1] = ARGV[i]
  end
  redis.call('HSET', bag, 'round:' .. round, #list > 0 and cjson.encode(list) or '[]', 'drawn_at:' .. round, now)
  ledger(prefix, 'op', 'bag_draw', 'bag', id, 'at', now, 'round', round, 'winners', table.concat(list, ','))
  if #list == 0 then
    finish(now, 'done')
    return {'ok', publish(now)}
  end
  local until_ms = now + tonumber(redis.call('HGET', bag, 'claim_ms'))
  redis.call('HSET', bag, 'state', 'claiming', 'claim_until', until_ms)
  local json = publish(now)
  local prize = cjson.encode({product_id = redis.call('HGET', bag, 'product_id'),
                              name = redis.call('HGET', bag, 'product_name'),
                              image_url = redis.call('HGET', bag, 'image_url')})
  for _, user in ipairs(list) do
    redis.call(cmd, channel, cjson.encode({type = 'won', user = user, bag = id, round = tonumber(round),
                                           claim_until = until_ms, prize = cjson.decode(prize)}))
  end
  return {'ok', json}
end

if op == 'claim' then
  -- ARGV[6]: user. {'ok', BAG} (also for a prize claimed before) or {'err', reason}.
  local status = redis.call('HGET', winners, ARGV[6])
  if not status then return {'err', 'not_a_winner'} end
  if string.sub(status, 1, 7) == 'claimed' then return {'ok', public()} end
  if string.sub(status, 1, 7) == 'expired' or state ~= 'claiming'
      or now >= tonumber(redis.call('HGET', bag, 'claim_until')) then
    return {'err', 'window_closed'}
  end
  redis.call('HSET', winners, ARGV[6], 'claimed:' .. string.match(status, '%d+') .. ':' .. now)
  ledger(prefix, 'op', 'bag_claim', 'bag', id, 'user', ARGV[6], 'at', now)
  local pending = false
  for _, value in ipairs(redis.call('HVALS', winners)) do
    if string.sub(value, 1, 7) == 'pending' then pending = true end
  end
  if not pending then finish(now, 'done') end
  return {'ok', publish(now)}
end

if op == 'cancel' then
  if state ~= 'open' then return {'err', 'not_open'} end
  redis.call('HSET', bag, 'closed_at', now)
  finish(now, 'cancelled')
  return {'ok', publish(now)}
end

if op == 'finish' then
  -- The console ends a bag whose winners are being waited for: no more redraws.
  if state ~= 'claiming' then return {'err', 'not_claiming'} end
  finish(now, 'done')
  return {'ok', publish(now)}
end

if op == 'tick' then
  -- A timer's look at the bag: publish a count that changed since the last publish; answer what is
  -- due next: {state, due ms} (due 0: now, -1: nothing).
  if state == 'open' and redis.call('HLEN', entrants) ~= tonumber(redis.call('HGET', bag, 'published_entrants') or '-1') then
    publish(now)
  end
  if state == 'open' then return {state, redis.call('HGET', bag, 'ends_at')} end
  if state == 'claiming' then return {state, redis.call('HGET', bag, 'claim_until')} end
  if state == 'drawing' then return {state, '0'} end
  return {state, '-1'}
end

if op == 'get' then
  return {'ok', public()}
end

return {'err', 'unknown_op'}
