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
    local within = tonumber(redis.call('HGET', users, c.user) or '0') + c.qty
      <= tonumber(redis.call('HGET', dk, 'limit_per_user'))
    if within and tonumber(redis.call('HGET', dk, 'left')) >= c.qty then
      redis.call('HINCRBY', dk, 'left', -c.qty)
      redis.call('HINCRBY', dk, 'sold', c.qty)
      redis.call('HINCRBY', dk, 'paid', 1)
      redis.call('HINCRBY', dk, 'gmv_cents', value)
      redis.call('HINCRBY', users, c.user, c.qty)
      c.state = 'sold'
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
