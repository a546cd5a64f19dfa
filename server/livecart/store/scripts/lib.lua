-- Shared by the deal scripts (prepended to each by redis_client.lua_source; Lua in Redis has no includes).
-- Deal keys are derived from ARGV prefix "lc:{room}:" so every key a script touches shares the room's
-- hash tag and lives on one cluster shard.

local function now_ms()
  -- Redis's clock, not the caller's: every node agrees on deal windows and hold expiry.
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function deal_key(prefix, id) return prefix .. 'deal:' .. id end

local function hash(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t, flat
end

-- The room channel message of type "deal" (its shape: livecart/store/channel.py):
--   {"type":"deal","deal":[name,value,...]}
local function publish_deal(prefix, id, channel, cmd)
  local _, flat = hash(deal_key(prefix, id))
  redis.call(cmd, channel, cjson.encode({type = 'deal', deal = flat}))
end

-- Publish a claim's effect on its deal at most every PUBLISH_EVERY_MS, but always when it sells the
-- last unit: a rush of 20,000 claims a second then costs each node a few dozen deal messages a
-- second, not 20,000. Sockets show one deal update per tick anyway, and every node re-reads its open
-- deals each second, so the last claims of a burst are never left unshown.
local PUBLISH_EVERY_MS = 40
local function publish_claim(prefix, id, channel, cmd, now, sold_out)
  local dk = deal_key(prefix, id)
  local last = tonumber(redis.call('HGET', dk, 'published_at') or '0')
  if sold_out or now - last >= PUBLISH_EVERY_MS then
    redis.call('HSET', dk, 'published_at', now)
    publish_deal(prefix, id, channel, cmd)
  end
end

local function ledger(prefix, ...)
  redis.call('XADD', prefix .. 'ledger', 'MAXLEN', '~', 100000, '*', ...)
end

-- Move a claim's units according to `outcome`; exactly once per transition.
-- Returns the claim's state after, and whether anything changed.
local function settle(prefix, claim_id, outcome, now)
  local raw = redis.call('HGET', prefix .. 'claims', claim_id)
  if not raw then return 'no_such_claim', false, nil end
  local c = cjson.decode(raw)
  local dk = deal_key(prefix, c.deal)
  local users = dk .. ':users'
  local value = c.qty * tonumber(redis.call('HGET', dk, 'deal_price_cents') or '0')
  local before = c.state
  if c.state == 'held' and outcome == 'paid' then
    redis.call('HINCRBY', dk, 'held', -c.qty)
    redis.call('HINCRBY', dk, 'sold', c.qty)
    redis.call('HINCRBY', dk, 'paid', 1)
    redis.call('HINCRBY', dk, 'gmv_cents', value)
    c.state = 'sold'
    c.price = value / c.qty  -- the unit price it was paid at (a group buy may owe some of it back)
  elseif c.state == 'held' and (outcome == 'cancelled' or outcome == 'refunded'
      or (outcome == 'expired' and now >= c.expires_at)) then
    redis.call('HINCRBY', dk, 'held', -c.qty)
    redis.call('HINCRBY', dk, 'left', c.qty)
    redis.call('HINCRBY', dk, 'released', 1)
    redis.call('HINCRBY', users, c.user, -c.qty)
    c.state = 'released'
  elseif c.state == 'sold' and outcome == 'refunded' then
    redis.call('HINCRBY', dk, 'sold', -c.qty)
    redis.call('HINCRBY', dk, 'left', c.qty)
    redis.call('HINCRBY', dk, 'gmv_cents', -value)
    redis.call('HINCRBY', users, c.user, -c.qty)
    c.state = 'refunded'
  elseif c.state == 'released' and outcome == 'paid' then
    -- Paid after the hold ran out: sell again if the units are still there and the user is still
    -- within the limit (they may have claimed again meanwhile); else flag it for the shop to refund.
    -- (The limit counts the claim slots an invite reward added to this deal for the user: claim.lua.)
    local within = tonumber(redis.call('HGET', users, c.user) or '0') + c.qty
      <= tonumber(redis.call('HGET', dk, 'limit_per_user')) + tonumber(redis.call('HGET', dk .. ':bonus', c.user) or '0')
    if within and tonumber(redis.call('HGET', dk, 'left')) >= c.qty then
      redis.call('HINCRBY', dk, 'left', -c.qty)
      redis.call('HINCRBY', dk, 'sold', c.qty)
      redis.call('HINCRBY', dk, 'paid', 1)
      redis.call('HINCRBY', dk, 'gmv_cents', value)
      redis.call('HINCRBY', users, c.user, c.qty)
      c.state = 'sold'
      c.price = value / c.qty
    else
      redis.call('HINCRBY', dk, 'late_unfilled', 1)
      c.state = 'late_unfilled'
    end
  end
  if c.state == before then return c.state, false, c.deal end
  if before == 'held' then redis.call('ZREM', prefix .. 'holds', claim_id) end
  redis.call('HSET', prefix .. 'claims', claim_id, cjson.encode(c))
  ledger(prefix, 'op', outcome, 'claim', claim_id, 'deal', c.deal, 'user', c.user, 'qty', c.qty,
         'state', c.state, 'at', now)
  return c.state, true, c.deal
end

-- Deal operations shared by deal_control.lua (the console) and goal.lua (a goal's action).
-- `d` is the deal's hash (hash()); each returns nothing and leaves the ledger and publish to the caller.
local function deal_closed(d, now)
  return d.status == 'stopped' or now >= tonumber(d.ends_at)
end

local function deal_start(dk, d, now)
  if now < tonumber(d.starts_at) then
    redis.call('HSET', dk, 'starts_at', now, 'ends_at', now + tonumber(d.duration_ms))
    return true
  end
  return false  -- live already
end

local function deal_restock(dk, add)
  redis.call('HINCRBY', dk, 'stock', add)
  redis.call('HINCRBY', dk, 'left', add)
end

-- Group-buy price tiers (tiers.py). A tiered deal has `tiers` = JSON [[buyers, price_minor], ...] with
-- tier 0 = [0, opening price], `tier` (the index reached) and maybe `tier_boost` (tiers unlocked by
-- goals). Its tier is the higher of the one its buyers reached and the boost; deal_price_cents is
-- always that tier's price. Tiers only drop (buyers never decrease). Held claims have no price of
-- their own (settle charges deal_price_cents), so setting the price re-prices them in the same atomic
-- call; units already paid at the old price are owed the difference: rebate_cents, and gmv_cents
-- counts them at the new price. Returns true when the tier changed.
local function tier_for(tiers, buyers)
  local t = 0
  for i, tier in ipairs(tiers) do
    if buyers >= tier[1] then t = i - 1 end
  end
  return t
end

local function apply_tier(prefix, id, now, by)
  local dk = deal_key(prefix, id)
  local f = redis.call('HMGET', dk, 'tiers', 'tier', 'tier_boost', 'buyers', 'sold', 'external_sold',
                       'deal_price_cents', 'tier_log')
  if not f[1] then return false end
  local tiers = cjson.decode(f[1])
  local want = math.min(math.max(tier_for(tiers, tonumber(f[4] or '0')), tonumber(f[3] or '0')), #tiers - 1)
  if want <= tonumber(f[2] or '0') then return false end
  local old, new = tonumber(f[7]), tiers[want + 1][2]
  local back = (tonumber(f[5] or '0') - tonumber(f[6] or '0')) * (old - new)
  redis.call('HSET', dk, 'tier', want, 'deal_price_cents', new)
  if back ~= 0 then
    redis.call('HINCRBY', dk, 'rebate_cents', back)
    redis.call('HINCRBY', dk, 'gmv_cents', -back)
  end
  local timeline = cjson.decode(f[8] or '[]')
  if type(timeline) ~= 'table' then timeline = {} end
  timeline[#timeline + 1] = {at = now, tier = want, price_minor = new, buyers = tonumber(f[4] or '0'), by = by}
  redis.call('HSET', dk, 'tier_log', cjson.encode(timeline))
  ledger(prefix, 'op', 'tier', 'deal', id, 'tier', want, 'price_minor', new, 'buyers', f[4] or '0',
         'by', by, 'at', now)
  return true
end
