-- Goals: create, edit, cancel, and check-and-fire, each one atomic call (lib.lua and bag_lib.lua are
-- prepended: the open_bag action opens a lucky bag with bag.lua's own bag_create).
-- A goal fires exactly once: the check that its number reached the target and its action run in this
-- same call, so two nodes that both saw the threshold cross and both call `check` fire it once.
-- KEYS: goals hash (lc:{room}:goals: id -> GOAL JSON), meta, counters
-- ARGV: prefix, channel, publish_cmd, by, op, then per op:
--   create  goal_id, spec JSON {metric, deal?, target, label?, action, scale?} -> {'ok', GOAL JSON, bag_due} | {'err', code}
--   edit    goal_id, changes JSON {target?, label?, action?}                 -> {'ok', GOAL JSON, bag_due} | {'err', code}
--   cancel  goal_id                                                          -> {'ok', GOAL JSON} | {'err', code}
--   check                                                                    -> {'ok', armed left, bag_due, fired id...}
-- bag_due: the ends_at of a lucky bag this call opened (an open_bag action), else 0; the caller notes
-- it in lc:bags-due (no hash tag, so not written here) for the bag timers.
-- An open_bag action arrives with its secret `seed`: it is kept apart in the goal-seeds hash (goal id
-- -> seed), never in the GOAL JSON, and moves into the bag when the goal fires (or is dropped).
-- Every change rewrites the stage field `goals` in meta (the goals not cancelled, oldest first) and
-- publishes it: room channel type "stage", name "goals" (livecart/store/channel.py). Actions publish
-- what they change (the deal, the announcement). The audit log (ledger) gets goal_create, goal_edit,
-- goal_cancel and goal_fired, and each action's own entry by "goal:<id>".
-- Adding an action type: a function in ACTIONS below (returns ok, detail) and a parser in goals.py.
local goals_key, meta, counters = KEYS[1], KEYS[2], KEYS[3]
local prefix, channel, cmd, by, op = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = now_ms()
local MAX_ARMED = 20  -- goals.MAX_ARMED
local MAX_GOALS = 500  -- goals kept per room (fired and cancelled ones too: the report lists them)
local seeds = prefix .. 'goal-seeds'  -- RoomKeys.goal_seeds
local bag_due = 0  -- the ends_at of a bag an open_bag action opened in this call

local COUNTER = {likes = 'likes', shares = 'shares', follows = 'follows', joins = 'joins',
                 orders = 'orders', gmv = 'gmv_cents'}
local DEAL_FIELDS = {deal_sold = {'sold'}, deal_claimed = {'held', 'sold'}, deal_buyers = {'buyers'}}

-- The deal `id` names (its hash and key), or nil: a key of another type or a hash that is not a deal
-- is no deal (never a WRONGTYPE error).
local function find_deal(id)
  if type(id) ~= 'string' then return nil end
  local dk = deal_key(prefix, id)
  if redis.call('TYPE', dk).ok ~= 'hash' then return nil end
  local d = hash(dk)
  if d.id ~= id or not tonumber(d.ends_at) or not tonumber(d.starts_at) then return nil end
  return d, dk
end

local function metric_value(g)
  local counter = COUNTER[g.metric]
  if counter then return tonumber(redis.call('HGET', counters, counter) or '0') end
  local d = find_deal(g.deal)
  if not d then return 0 end
  local v = 0
  for _, name in ipairs(DEAL_FIELDS[g.metric]) do v = v + tonumber(d[name] or '0') end
  return v
end

-- Numbers in the metric's stored unit; a money goal (scale set) shows them in major units beside
-- the exact `_minor` integer.
local function set_number(g, name, v)
  if g.scale then
    g[name .. '_minor'] = v
    g[name] = v / g.scale
  else
    g[name] = v
  end
end

local function target_of(g)
  if g.scale then return g.target_minor end
  return g.target
end

local function save(g)
  redis.call('HSET', goals_key, g.id, cjson.encode(g))
end

-- The stage list: every armed goal and the FIRED_SHOWN most recently fired (what the pages draw and the
-- console lists; every goal stays in the goals hash for the report), oldest first.
local FIRED_SHOWN = 5  -- the whole list is in every state-only frame: kept short
local function publish_stage()
  local list, fired = {}, {}
  for _, raw in ipairs(redis.call('HVALS', goals_key)) do
    local g = cjson.decode(raw)
    if g.state == 'armed' then list[#list + 1] = g
    elseif g.state == 'fired' then fired[#fired + 1] = g end
  end
  table.sort(fired, function(a, b)  -- newest first; goals fired in one call by id (a stable choice)
    if a.fired_at ~= b.fired_at then return a.fired_at > b.fired_at end
    return a.id > b.id
  end)
  for i = 1, math.min(#fired, FIRED_SHOWN) do list[#list + 1] = fired[i] end
  table.sort(list, function(a, b)
    if a.created_at ~= b.created_at then return a.created_at < b.created_at end
    return a.id < b.id
  end)
  local parts = {}
  for i, g in ipairs(list) do parts[i] = cjson.encode(g) end
  local value = '[' .. table.concat(parts, ',') .. ']'  -- cjson would write an empty list as {}
  redis.call('HSET', meta, 'goals', value)
  redis.call(cmd, channel, '{"type":"stage","name":"goals","value":' .. value .. '}')
end

-- Actions: each runs inside the firing call and returns ok, detail.
local function deal_of(g)
  local d, dk = find_deal(g.action.deal)
  if not d then return nil, nil, 'no_such_deal' end
  if deal_closed(d, now) then return nil, nil, 'deal_closed' end
  return d, dk
end

local ACTIONS = {
  none = function(g) return true, 'reached' end,
  start_deal = function(g)
    local d, dk, why = deal_of(g)
    if not d then return false, why end
    local started = deal_start(dk, d, now)
    ledger(prefix, 'op', 'start', 'deal', d.id, 'by', 'goal:' .. g.id, 'at', now, 'value', '')
    publish_deal(prefix, d.id, channel, cmd)
    return true, started and 'started' or 'already_live'
  end,
  restock = function(g)
    local d, dk, why = deal_of(g)
    if not d then return false, why end
    deal_restock(dk, g.action.add)
    ledger(prefix, 'op', 'restock', 'deal', d.id, 'by', 'goal:' .. g.id, 'at', now, 'value', g.action.add)
    publish_deal(prefix, d.id, channel, cmd)
    return true, 'restocked ' .. g.action.add
  end,
  next_tier = function(g)
    local d, dk, why = deal_of(g)
    if not d then return false, why end
    if not d.tiers then return false, 'no_tiers' end
    local current = tonumber(d.tier or '0')
    if current + 1 >= #cjson.decode(d.tiers) then return false, 'last_tier' end
    redis.call('HSET', dk, 'tier_boost', current + 1)
    apply_tier(prefix, d.id, now, 'goal:' .. g.id)
    publish_deal(prefix, d.id, channel, cmd)
    return true, 'tier ' .. (current + 1)
  end,
  announce = function(g)
    local value = cjson.encode({text = g.action.text, by = 'goal:' .. g.id, at = now})
    redis.call('HSET', meta, 'announcement', value)
    redis.call(cmd, channel, '{"type":"stage","name":"announcement","value":' .. value .. '}')
    return true, 'announced'
  end,
  -- A lucky bag (bag_lib.lua's bag_create, as the console's), its id the goal's; at most one per room.
  open_bag = function(g)
    local a = g.action
    local seed = redis.call('HGET', seeds, g.id)
    if not seed then return false, 'no_seed' end
    local fields = {product_id = a.product.id, product_name = a.product.name, image_url = a.product.image_url,
                    winners = a.winners, keyword = a.keyword, follows = a.rules.follows and 1 or 0,
                    present = a.rules.present and 1 or 0, duration_ms = math.floor(a.duration_s * 1000 + 0.5),
                    claim_ms = math.floor(a.claim_s * 1000 + 0.5), seed = seed, commitment = a.commitment,
                    opened_by = 'goal:' .. g.id}
    local status, body, current = bag_create(prefix, meta, channel, cmd, g.id, 'goal:' .. g.id, fields, now)
    if status ~= 'ok' then return false, body, current end
    bag_due = cjson.decode(body).ends_at
    return true, 'opened', g.id
  end,
}

-- Where an open_bag action's seed lives: apart from the goal (its JSON goes to every audience).
local function keep_seed(g)
  if g.action.seed then
    redis.call('HSET', seeds, g.id, g.action.seed)
    g.action.seed = nil
  else
    redis.call('HDEL', seeds, g.id)
  end
end

local function fire(g, value)
  g.state = 'fired'
  g.fired_at = now
  set_number(g, 'fired_value', value)
  local ok, detail, bag = ACTIONS[g.action.type](g)
  g.result = {ok = ok, detail = detail, bag = bag}
  redis.call('HDEL', seeds, g.id)  -- an opened bag holds its seed now; an unopened one needs none
  save(g)
  ledger(prefix, 'op', 'goal_fired', 'goal', g.id, 'metric', g.metric, 'value', value, 'target', target_of(g),
         'action', g.action.type, 'result', detail, 'ok', ok and '1' or '0', 'by', by, 'at', now)
end

-- Fire `g` if its number has reached the target (armed goals only). Returns true when it fired.
local function fire_if_reached(g)
  if g.state ~= 'armed' then return false end
  local value = metric_value(g)
  if value < target_of(g) then return false end
  fire(g, value)
  return true
end

-- What create and edit check before they arm a goal: the deals it names exist and can still act.
local function check_deals(g)
  if DEAL_FIELDS[g.metric] and not find_deal(g.deal) then return 'no_such_deal' end
  if g.action.deal then
    local d = find_deal(g.action.deal)
    if not d then return 'no_such_deal' end
    if deal_closed(d, now) then return 'deal_closed' end
    if g.action.type == 'next_tier' and not d.tiers then return 'no_tiers' end
  end
  return nil
end

local function armed_count()
  local n = 0
  for _, raw in ipairs(redis.call('HVALS', goals_key)) do
    if cjson.decode(raw).state == 'armed' then n = n + 1 end
  end
  return n
end

local function load(id)
  local raw = redis.call('HGET', goals_key, id)
  if not raw then return nil end
  return cjson.decode(raw)
end

if op == 'create' then
  local id = ARGV[6]
  local existing = redis.call('HGET', goals_key, id)
  if existing then return {'ok', existing} end  -- a retried create
  if armed_count() >= MAX_ARMED or redis.call('HLEN', goals_key) >= MAX_GOALS then
    return {'err', 'too_many_goals'}
  end
  local g = cjson.decode(ARGV[7])
  local why = check_deals(g)
  if why then return {'err', why} end
  g.id, g.state, g.created_at, g.updated_at, g.by = id, 'armed', now, now, by
  keep_seed(g)
  local target = g.target
  set_number(g, 'target', target)
  set_number(g, 'base', metric_value(g))
  save(g)
  ledger(prefix, 'op', 'goal_create', 'goal', id, 'metric', g.metric, 'target', target,
         'action', g.action.type, 'by', by, 'at', now)
  fire_if_reached(g)
  publish_stage()
  return {'ok', redis.call('HGET', goals_key, id), bag_due}
elseif op == 'edit' then
  local g = load(ARGV[6])
  if not g then return {'err', 'no_such_goal'} end
  if g.state ~= 'armed' then return {'err', 'goal_closed'} end
  local changes = cjson.decode(ARGV[7])
  if changes.action then g.action = changes.action end
  if changes.label then g.label = changes.label ~= '' and changes.label or nil end
  local why = check_deals(g)
  if why then return {'err', why} end
  if changes.action then keep_seed(g) end  -- (after the checks: a refused edit keeps the old seed)
  if changes.target then
    set_number(g, 'target', changes.target)
    set_number(g, 'base', metric_value(g))
  end
  g.updated_at = now
  save(g)
  ledger(prefix, 'op', 'goal_edit', 'goal', g.id, 'target', target_of(g), 'action', g.action.type,
         'by', by, 'at', now)
  fire_if_reached(g)
  publish_stage()
  return {'ok', redis.call('HGET', goals_key, g.id), bag_due}
elseif op == 'cancel' then
  local g = load(ARGV[6])
  if not g then return {'err', 'no_such_goal'} end
  if g.state == 'fired' then return {'err', 'goal_closed'} end
  if g.state == 'armed' then
    g.state, g.cancelled_at, g.updated_at = 'cancelled', now, now
    save(g)
    redis.call('HDEL', seeds, g.id)
    ledger(prefix, 'op', 'goal_cancel', 'goal', g.id, 'by', by, 'at', now)
    publish_stage()
  end
  return {'ok', cjson.encode(g)}
elseif op == 'check' then
  local out, armed = {'ok', 0, 0}, 0
  for _, raw in ipairs(redis.call('HVALS', goals_key)) do
    local g = cjson.decode(raw)
    if fire_if_reached(g) then
      out[#out + 1] = g.id
    elseif g.state == 'armed' then
      armed = armed + 1
    end
  end
  out[2], out[3] = armed, bag_due
  if #out > 3 then publish_stage() end
  return out
end
return {'err', 'bad_op'}
