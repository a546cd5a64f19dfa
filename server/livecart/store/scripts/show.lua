-- Buyer shows: post, review (approve / reject), rescreen (blocked words changed), rebuild (a mute
-- changed); each one atomic call (livecart/store/show_store.py calls it).
-- KEYS: meta, shows (hash id -> SHOW JSON), show order (zset id by posted ms), approved (zset id by
--       approved ms), muted (hash user -> "ms by"), buyers (hash user -> display name, from paid orders),
--       authors (hash user -> shows posted)
-- ARGV: op, prefix, channel, publish command, then the op's own:
--   post      id, user, SHOW JSON (state pending, without times), max shows per user
--   review    id, 'approved'|'rejected', by
--   rescreen  id, '1'|'0', id, '1'|'0', ...  (hidden: matches the room's blocked words)
--   rebuild   (nothing)
-- Replies: {'ok', SHOW JSON, outcome} | {reason, detail}: not_a_buyer, muted, limit_reached,
-- no_such_show, already_reviewed (detail: the SHOW JSON).
-- Staff hear of every new or reviewed show: {"type":"show","show":SHOW} on the room channel
-- (livecart/store/channel.py). The wall (meta's `wall` field, the stage) is rebuilt after every change
-- and published as {"type":"stage","name":"wall","value":{"shows":[...]}} when it changed.
local meta, shows, order, approved, muted, buyers, authors = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5],
                                                              KEYS[6], KEYS[7]
local op, prefix, channel, cmd = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local WALL_SIZE = 12
local SCAN_APPROVED = 200

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local now = now_ms()

local function ledger(...)
  redis.call('XADD', prefix .. 'ledger', 'MAXLEN', '~', 100000, '*', ...)
end

local function tell_staff(body)
  redis.call(cmd, channel, '{"type":"show","show":' .. body .. '}')
end

-- The newest approved shows that are neither hidden (blocked words) nor by a muted user, as the
-- public sees them: name, text, image URL, when approved. Never the author's user id.
local function rebuild_wall()
  local items = {}
  for _, id in ipairs(redis.call('ZREVRANGE', approved, 0, SCAN_APPROVED - 1)) do
    local raw = redis.call('HGET', shows, id)
    if raw then
      local s = cjson.decode(raw)
      if not s.hidden and redis.call('HEXISTS', muted, s.user) == 0 then
        items[#items + 1] = cjson.encode({id = s.id, name = s.name, text = s.text,
                                          image_url = s.image_url or cjson.null, at = s.reviewed_at})
        if #items >= WALL_SIZE then break end
      end
    end
  end
  local wall = '{"shows":[' .. table.concat(items, ',') .. ']}'
  if redis.call('HGET', meta, 'wall') ~= wall then
    redis.call('HSET', meta, 'wall', wall)
    redis.call(cmd, channel, '{"type":"stage","name":"wall","value":' .. wall .. '}')
  end
end

if op == 'post' then
  local id, user, body, max = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
  local existing = redis.call('HGET', shows, id)
  if existing then return {'ok', existing, 'again'} end  -- a retried post (the id comes from its key)
  local name = redis.call('HGET', buyers, user)
  if not name then return {'not_a_buyer', ''} end
  if redis.call('HEXISTS', muted, user) == 1 then return {'muted', ''} end
  if tonumber(redis.call('HGET', authors, user) or '0') >= max then return {'limit_reached', ''} end
  local s = cjson.decode(body)
  s.name, s.posted_at, s.state = name, now, 'pending'
  local stored = cjson.encode(s)
  redis.call('HSET', shows, id, stored)
  redis.call('ZADD', order, now, id)
  redis.call('HINCRBY', authors, user, 1)
  tell_staff(stored)
  return {'ok', stored, 'posted'}
end

if op == 'review' then
  local id, state, by = ARGV[5], ARGV[6], ARGV[7]
  local raw = redis.call('HGET', shows, id)
  if not raw then return {'no_such_show', ''} end
  local s = cjson.decode(raw)
  if s.state ~= 'pending' then
    if s.state == state then return {'ok', raw, 'again'} end
    return {'already_reviewed', raw}
  end
  s.state, s.reviewed_by, s.reviewed_at = state, by, now
  local stored = cjson.encode(s)
  redis.call('HSET', shows, id, stored)
  if state == 'approved' then redis.call('ZADD', approved, now, id) end
  ledger('op', 'show_' .. (state == 'approved' and 'approve' or 'reject'), 'show', id, 'user', s.user,
         'by', by, 'at', now)
  tell_staff(stored)
  rebuild_wall()
  return {'ok', stored, state}
end

if op == 'rescreen' then
  for i = 5, #ARGV - 1, 2 do
    local raw = redis.call('HGET', shows, ARGV[i])
    if raw then
      local s = cjson.decode(raw)
      local hidden = ARGV[i + 1] == '1'
      if (s.hidden == true) ~= hidden then
        s.hidden = hidden
        redis.call('HSET', shows, ARGV[i], cjson.encode(s))
      end
    end
  end
end

rebuild_wall()
return {'ok', '', op}
