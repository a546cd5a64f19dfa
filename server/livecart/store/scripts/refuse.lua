-- Keep one refusal as the answer of many claim keys of one deal, unless a key has an answer already
-- (DealStore.refuse_once: the node's sold-out shortcut, batched like the claims).
-- KEYS: the deal's answers hash (<deal>:keys)
-- ARGV: the refusal (reply JSON), then the answer fields (keys.claim_answer_field), one per claim
-- Returns per field two values: the field's answer, and 1 if it is the refusal stored now, else 0.
-- HSETNX first: in a rush nearly every key is new, and then one command per key does it.
local out = {}
for i = 2, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1]) == 1 then
    out[#out + 1] = ARGV[1]; out[#out + 1] = 1
  else
    out[#out + 1] = redis.call('HGET', KEYS[1], ARGV[i]); out[#out + 1] = 0
  end
end
return out
