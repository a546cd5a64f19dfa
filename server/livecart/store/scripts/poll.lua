-- Polls: create, vote, close; each one atomic call (livecart/store/poll_store.py calls it).
-- KEYS: meta, polls (zset of poll ids by creation ms), muted (hash user -> "ms by")
-- ARGV: op, prefix ("lc:{room}:"), channel, publish command, then the op's own:
--   create  id, static POLL JSON (polls.PollSpec.static_wire, without times), duration ms, options, change ('1'|'0'), by
--   vote    id, user, option (0-based), publish: '1' store and publish the POLL map; '0' not (a batch of
--           votes ends with one 'publish' call: livecart/poll_desk.py)
--   publish id  (store and publish the POLL map: a batch of quiet comment votes ends with it)
--   close   id, by
-- Keys derived from prefix: poll:<id> (hash: static, n, change, opens_at, closes_at, closed_at?, voters,
-- v0..v3), poll:<id>:voters (hash user -> option), poll:<id>:moves (hash "<second>:<option>" -> net
-- votes gained that second since opens_at: the report's results over time).
-- Replies: {'ok', POLL JSON, outcome} | {reason, detail}; reasons are polls.VoteRefused values and
-- 'poll_open' (create while another poll is open; detail: its id).
-- Every change stores the POLL map in meta's `poll` field (the stage) and publishes it as a stage
-- message (livecart/store/channel.py): {"type":"stage","name":"poll","value":POLL}.
local meta, polls, muted = KEYS[1], KEYS[2], KEYS[3]
local op, prefix, channel, cmd = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local function now_ms()
  -- Redis's clock, as the deal scripts use: every node agrees when a poll closes.
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local now = now_ms()

local function poll_key(id) return prefix .. 'poll:' .. id end

-- The POLL map (polls.poll_to_wire builds the same one in Python).
local function wire(id)
  local f = redis.call('HMGET', poll_key(id), 'static', 'n', 'voters', 'closed_at', 'opens_at', 'closes_at',
                       'v0', 'v1', 'v2', 'v3')
  local w = cjson.decode(f[1])
  local votes = {}
  for i = 1, tonumber(f[2]) do votes[i] = tonumber(f[6 + i] or '0') end
  w.votes = votes
  w.voters = tonumber(f[3] or '0')
  w.opens_at = tonumber(f[5])
  w.closes_at = tonumber(f[6])
  local closed_at = tonumber(f[4] or '')
  w.closed_at = closed_at or cjson.null
  if closed_at or now >= w.closes_at then w.state = 'closed' else w.state = 'open' end
  return cjson.encode(w)
end

local function show(id)
  local body = wire(id)
  redis.call('HSET', meta, 'poll', body)
  redis.call(cmd, channel, '{"type":"stage","name":"poll","value":' .. body .. '}')
  return body
end

local function ledger(...)
  redis.call('XADD', prefix .. 'ledger', 'MAXLEN', '~', 100000, '*', ...)
end

local function is_open(id)
  local f = redis.call('HMGET', poll_key(id), 'closes_at', 'closed_at')
  return f[1] and not f[2] and now < tonumber(f[1])
end

if op == 'create' then
  local id, static, duration, n, change, by = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[10]
  local key = poll_key(id)
  if redis.call('EXISTS', key) == 1 then return {'ok', wire(id), 'again'} end  -- a retried create
  local current = redis.call('HGET', meta, 'poll_id')
  if current and is_open(current) then return {'poll_open', current} end
  redis.call('HSET', key, 'static', static, 'n', n, 'change', change, 'opens_at', now,
             'closes_at', now + duration, 'voters', 0)
  redis.call('ZADD', polls, now, id)
  redis.call('HSET', meta, 'poll_id', id)
  ledger('op', 'poll_create', 'poll', id, 'by', by, 'at', now)
  return {'ok', show(id), 'created'}
end

local id = ARGV[5]
local key = poll_key(id)
if redis.call('EXISTS', key) == 0 then return {'no_such_poll', ''} end

if op == 'publish' then return {'ok', show(id), 'published'} end

if op == 'close' then
  local by = ARGV[6]
  if redis.call('HEXISTS', key, 'closed_at') == 1 then return {'ok', wire(id), 'again'} end
  local closes_at = tonumber(redis.call('HGET', key, 'closes_at'))
  redis.call('HSET', key, 'closed_at', math.min(now, closes_at))
  ledger('op', 'poll_close', 'poll', id, 'by', by, 'at', now)
  return {'ok', show(id), 'closed'}
end

-- op == 'vote'
local user, option, loud = ARGV[6], tonumber(ARGV[7]), ARGV[8] == '1'
if not is_open(id) then return {'closed', ''} end
local n = tonumber(redis.call('HGET', key, 'n'))
if not option or option ~= math.floor(option) or option < 0 or option >= n then return {'bad_option', ''} end
-- The mute check every mechanic shares (moderation: RoomKeys.muted): a muted user's votes are ignored.
if redis.call('HEXISTS', muted, user) == 1 then return {'muted', ''} end
local voters = key .. ':voters'
local moves = key .. ':moves'
local second = math.floor((now - tonumber(redis.call('HGET', key, 'opens_at'))) / 1000)
local before = redis.call('HGET', voters, user)
local outcome
if before then
  before = tonumber(before)
  if before == option then return {'ok', loud and wire(id) or '', 'same'} end
  if redis.call('HGET', key, 'change') ~= '1' then return {'already_voted', tostring(before)} end
  redis.call('HINCRBY', key, 'v' .. before, -1)
  redis.call('HINCRBY', moves, second .. ':' .. before, -1)
  outcome = 'moved'
else
  redis.call('HINCRBY', key, 'voters', 1)
  outcome = 'counted'
end
redis.call('HSET', voters, user, option)
redis.call('HINCRBY', key, 'v' .. option, 1)
redis.call('HINCRBY', moves, second .. ':' .. option, 1)
if loud then return {'ok', show(id), outcome} end
return {'ok', '', outcome}  -- a quiet vote: the batch's closing 'publish' call shows the bars
