-- Claim units of deals for users, many claims of one room per call: the rules of deals.check_claim
-- applied to each in order, as if each were its own script (the call is atomic), then decrement left,
-- hold the units until expiry, count the user towards the limit.
-- KEYS: the room's deals index (routes the call to the room's shard; deal keys derive from prefix)
-- ARGV: prefix, channel, publish_cmd, hold_ms, then per claim: deal_id, user, qty, key, claim_id
-- Returns per claim two values: 'ok'|'rejected'|'again' and the reply JSON, or 'err', 'no_such_deal'.
-- The same (user, key) gets the first reply again and changes nothing.
-- Publishes the deal's fields with lib.lua publish_claim: room channel type "deal" (livecart/store/channel.py).
--
-- Why one call for many claims: a rush is thousands of claims a second on one deal. Each claim costs
-- a few hash look-ups; the deal's fields, its counters and the publish are done once per call, and the
-- records are written with one variadic command each, so Redis spends microseconds per claim, not the
-- tens a script call of its own costs.
local prefix, channel, cmd, hold_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
local expires = now + hold_ms
local deals = {}  -- deal id -> what this call read and changed, or false for an unknown deal
local claim_records, holds, out = {}, {}, {}

-- cjson.encode costs several microseconds a call; user ids are almost always plain words.
local function json_string(s)
  if string.find(s, '^[%w_.:@-]*$') then return '"' .. s .. '"' end
  return cjson.encode(s)
end

-- The deal `id` names, or false. One claim's id must never fail the call, which answers the other claims
-- of the room too: a key of another type (`<deal>:ops` is a set) would raise WRONGTYPE, and a hash that
-- is not a deal (`<deal>:users`) lacks its fields. Either is no deal, for this claim alone.
local function open(id)
  local dk = deal_key(prefix, id)
  if redis.call('TYPE', dk).ok ~= 'hash' then return false end
  local f = redis.call('HMGET', dk, 'id', 'status', 'starts_at', 'ends_at', 'limit_per_user', 'left', 'tier')
  if f[1] ~= id then return false end
  for i = 3, 6 do
    if not tonumber(f[i]) then return false end
  end
  return {key = dk, id = f[1], status = f[2], starts_at = tonumber(f[3]), ends_at = tonumber(f[4]),
          limit = tonumber(f[5]), left = tonumber(f[6]), was_left = tonumber(f[6]), tiered = f[7] ~= false,
          inc = {attempts = 0, held = 0, claims = 0, buyers = 0}, answers = {}, answer_args = {},
          users = {}, new_users = {}, user_args = {}, claim_ids = {}}
end

-- Invite rewards (invites.lua gives them): each claim slot lets its viewer claim one unit over a deal's
-- limit. A slot leaves the room's pool (inv:slots) the first time the viewer needs it, for a claim that
-- will succeed (`take`: the stock is there), and stays with that deal (its :bonus hash): "a claim slot
-- on the next deal". Read only when a claim would pass the limit, so a rush without invite rewards
-- costs nothing more. Whether `need` units over the limit are covered.
local function invite_bonus(d, user, need, take)
  local have = tonumber(redis.call('HGET', d.key .. ':bonus', user) or '0')
  if have >= need then return true end
  local slots = prefix .. 'inv:slots'
  if have + tonumber(redis.call('HGET', slots, user) or '0') < need then return false end
  if take then
    redis.call('HINCRBY', slots, user, have - need)
    redis.call('HSET', d.key .. ':bonus', user, need)
  end
  return true
end

for i = 5, #ARGV, 5 do
  local id, user, qty, key, claim_id = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  local d = deals[id]
  if d == nil then d = open(id); deals[id] = d end
  if not d then
    out[#out + 1] = 'err'; out[#out + 1] = 'no_such_deal'
  else
    -- Length-prefixed (keys.claim_answer_field builds the same): no user id or key collides with
    -- another pair's field, whatever characters either holds.
    local idem = #user .. ':' .. user .. key
    local prior = d.answers[idem] or redis.call('HGET', d.key .. ':keys', idem)
    if prior then
      out[#out + 1] = 'again'; out[#out + 1] = prior
    else
      d.inc.attempts = d.inc.attempts + 1
      local held_by_user = d.users[user]
      if held_by_user == nil then
        local raw = redis.call('HGET', d.key .. ':users', user)
        held_by_user = tonumber(raw or '0')
        d.users[user] = held_by_user
        -- The users hash gets a field on a user's first successful claim and keeps it: a user without
        -- one is a new buyer (a set of buyers would cost a write per claim).
        if not raw then d.new_users[user] = true end
      end
      local reason = nil
      if d.status == 'stopped' or now >= d.ends_at then reason = 'ended'
      elseif not qty or qty < 1 or qty ~= math.floor(qty) then reason = 'invalid_qty'
      elseif now < d.starts_at then reason = 'not_live'
      elseif held_by_user + qty > d.limit
        and not invite_bonus(d, user, held_by_user + qty - d.limit, qty <= d.left) then
        reason = 'limit_reached'
      elseif qty > d.left then reason = 'sold_out'
      end
      local status, reply
      if reason then
        local field = 'rej_' .. reason
        d.inc[field] = (d.inc[field] or 0) + 1
        status, reply = 'rejected', '{"ok":false,"reason":"' .. reason .. '"}'
      else
        d.left = d.left - qty
        d.inc.held = d.inc.held + qty
        d.inc.claims = d.inc.claims + 1
        d.users[user] = held_by_user + qty
        d.user_args[#d.user_args + 1] = user; d.user_args[#d.user_args + 1] = held_by_user + qty
        if d.new_users[user] then d.new_users[user] = nil; d.inc.buyers = d.inc.buyers + 1 end
        claim_records[#claim_records + 1] = claim_id
        d.claim_ids[#d.claim_ids + 1] = claim_id
        claim_records[#claim_records + 1] = '{"deal":"' .. d.id .. '","user":' .. json_string(user) ..
          ',"qty":' .. qty .. ',"expires_at":' .. expires .. ',"state":"held"}'
        holds[#holds + 1] = expires; holds[#holds + 1] = claim_id
        -- Ids are ours (hex claim ids, server-made deal ids), so plain concatenation is valid JSON.
        status, reply = 'ok', '{"ok":true,"claim":{"id":"' .. claim_id .. '","deal":"' .. d.id ..
          '","qty":' .. qty .. ',"expires_at":' .. expires .. '}}'
      end
      -- A closed deal (ended, stopped) never opens again, so 'ended' is the answer to every later claim
      -- of any key: not stored, or a flood of refused keys on an ended deal grew :keys without end.
      if reason ~= 'ended' then
        d.answers[idem] = reply
        d.answer_args[#d.answer_args + 1] = idem; d.answer_args[#d.answer_args + 1] = reply
      end
      out[#out + 1] = status; out[#out + 1] = reply
    end
  end
end

for id, d in pairs(deals) do
  if d then
    d.inc.left = d.left - d.was_left
    for field, n in pairs(d.inc) do
      if n ~= 0 then redis.call('HINCRBY', d.key, field, n) end
    end
    -- The users' counts were read above, so writing them absolute is exact.
    if #d.user_args > 0 then redis.call('HSET', d.key .. ':users', unpack(d.user_args)) end
    if #d.answer_args > 0 then redis.call('HSET', d.key .. ':keys', unpack(d.answer_args)) end
    -- The deal's claim ids, so that retiring the deal (deal_retire.lua) finds its claim records.
    if #d.claim_ids > 0 then redis.call('SADD', d.key .. ':claimids', unpack(d.claim_ids)) end
    -- A group buy's new buyers may reach a price tier: re-priced in this same call (lib.lua apply_tier).
    local repriced = d.tiered and d.inc.buyers > 0 and apply_tier(prefix, id, now, 'buyers')
    if d.inc.claims > 0 then publish_claim(prefix, id, channel, cmd, now, d.left == 0 or repriced) end
  end
end
if #claim_records > 0 then
  redis.call('HSET', prefix .. 'claims', unpack(claim_records))
  redis.call('ZADD', prefix .. 'holds', unpack(holds))
end
return out
