-- Keep one refusal as the answer of many claim keys of one deal, unless a key has an answer already
-- (DealStore.refuse_once: the node's sold-out shortcut, batched like the claims).
-- KEYS: the deal's answers hash (<deal>:keys)
-- ARGV: the refusal (reply JSON), then the answer fields (keys.claim_answer_field), one per claim
-- Returns per field two values: the field's answer, and 1 if it is the refusal stored now, else 0.
local out = {}
for i = 2, #ARGV do
  local prior = redis.call('HGET', KEYS[1], ARGV[i])
  if prior then
    out[#out + 1] = prior; out[#out + 1] = 0
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[1])
    out[#out + 1] = ARGV[1]; out[#out + 1] = 1
  end
end
return out
