-- Lucky bags' shared steps, prepended (after lib.lua) to bag.lua and to goal.lua, whose open_bag action
-- opens a bag in the same call as the goal check (redis_client.lua_source; Lua in Redis has no includes).
-- A bag's keys are under the room's prefix: bag:<id> (hash), bag:<id>:entrants, bag:<id>:winners
-- (bag.lua's header lists them all); the room's meta hash holds bag_open, bag_id and the BAG JSON `bag`.

-- The public BAG map of bag `id`, as JSON (the seed only once the bag has closed).
local function bag_public(prefix, id)
  local bag = prefix .. 'bag:' .. id
  local entrants, winners = bag .. ':entrants', bag .. ':winners'
  local b = hash(bag)
  local pub = {id = b.id, state = b.state, keyword = b.keyword,
               prize = {product_id = b.product_id, name = b.product_name, image_url = b.image_url,
                        winners = tonumber(b.winners)},
               rules = {follows = b.follows == '1', present = b.present == '1'},
               opens_at = tonumber(b.opens_at), ends_at = tonumber(b.ends_at),
               claim_s = math.floor(tonumber(b.claim_ms) / 1000), entrants = redis.call('HLEN', entrants),
               commitment = b.commitment, round = tonumber(b.round), claim_until = tonumber(b.claim_until)}
  if b.opened_by then pub.opened_by = b.opened_by end
  if b.state ~= 'open' then pub.seed = b.seed; pub.closed_at = tonumber(b.closed_at) end
  local list, flat = {}, redis.call('HGETALL', winners)
  for i = 1, #flat, 2 do
    local state, round = string.match(flat[i + 1], '^(%a+):(%d+)')
    list[#list + 1] = {user = flat[i], name = redis.call('HGET', entrants, flat[i]) or flat[i],
                       state = state, round = tonumber(round)}
  end
  table.sort(list, function(a, b) return a.round < b.round or (a.round == b.round and a.user < b.user) end)
  if #list > 0 then pub.winners = list end  -- (cjson writes an empty table as {}: no key means none)
  return cjson.encode(pub)
end

-- Publish bag `id` as the room's `bag` stage field (when it is the room's current bag); its JSON.
local function bag_publish(prefix, meta, channel, cmd, id, now)
  local bag = prefix .. 'bag:' .. id
  local json = bag_public(prefix, id)
  redis.call('HSET', bag, 'published_at', now, 'published_entrants', redis.call('HLEN', bag .. ':entrants'))
  if redis.call('HGET', meta, 'bag_open') == id or redis.call('HGET', meta, 'bag_id') == id then
    redis.call('HSET', meta, 'bag', json, 'bag_id', id)
    redis.call(cmd, channel, '{"type":"stage","name":"bag","value":' .. json .. '}')
  end
  return json
end

-- Open bag `id` now with `fields` (name -> value: product_*, winners, keyword, follows, present,
-- duration_ms, claim_ms, seed, commitment; opened_by when a goal opens it). Returns 'ok', BAG JSON
-- (a bag that exists already is returned unchanged: a retried create) or 'err', 'bag_open', the id of
-- the bag still in progress (at most one per room).
local function bag_create(prefix, meta, channel, cmd, id, by, fields, now)
  local bag = prefix .. 'bag:' .. id
  if redis.call('EXISTS', bag) == 1 then return 'ok', bag_public(prefix, id) end
  local current = redis.call('HGET', meta, 'bag_open')
  if current then return 'err', 'bag_open', current end
  for name, value in pairs(fields) do redis.call('HSET', bag, name, value) end
  redis.call('HSET', bag, 'id', id, 'state', 'open', 'opens_at', now,
             'ends_at', now + tonumber(redis.call('HGET', bag, 'duration_ms')), 'round', 0, 'claim_until', 0,
             'closed_at', 0, 'created_by', by)
  redis.call('ZADD', prefix .. 'bags', now, id)
  redis.call('HSET', meta, 'bag_open', id, 'bag_id', id)
  ledger(prefix, 'op', 'bag_create', 'bag', id, 'by', by, 'at', now)
  return 'ok', bag_publish(prefix, meta, channel, cmd, id, now)
end
