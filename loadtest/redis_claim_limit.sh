#!/usr/bin/env bash
# The raw Redis limit of livecart's own claim script (store/scripts/lib.lua + claim.lua), measured
# with redis-benchmark on a throwaway redis-server: what one Redis core can do before any node,
# socket or Python is involved. Compare with `livecart-loadtest deal-rush` through a node.
#   loadtest/redis_claim_limit.sh            # server pinned to CPU 0, redis-benchmark to CPU 1
#   STATS=1 loadtest/redis_claim_limit.sh    # also: time per call of the script and of each command
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-300000}; PORT=$((31000 + RANDOM % 2000))
scripts=server/livecart/store/scripts
taskset -c 0 redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --logfile '' >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
cli="redis-cli -h 127.0.0.1 -p $PORT"
for _ in $(seq 50); do $cli ping >/dev/null 2>&1 && break; sleep 0.1; done
sha=$($cli script load "$(cat $scripts/lib.lua $scripts/claim.lua)")
deal='lc:{bench}:deal:d1'
$cli hset "$deal" id d1 status open starts_at 0 ends_at 99999999999999 limit_per_user 1000000 \
  left 1000000000 stock 1000000000 held 0 sold 0 deal_price_cents 100 >/dev/null
# claim.lua takes many claims per call (a node sends each loop pass's claims of a room as one call):
# measured with 1 claim per call (the worst case) and BATCH claims per call.
for batch in 1 ${BATCH:-32}; do
  claims=()
  for _ in $(seq "$batch"); do claims+=(d1 user:__rand_int__ 1 key:__rand_int__ claim:__rand_int__); done
  rps=$(taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$PORT" -c 50 -n $((N / batch)) -r 1000000 -q \
    EVALSHA "$sha" 1 'lc:{bench}:deals' 'lc:{bench}:' 'lc:{bench}:ch' PUBLISH 300000 "${claims[@]}" \
    | tr '\r' '\n' | grep -E 'per second' | tail -1 | grep -oE '[0-9.]+ requests' | cut -d' ' -f1)
  echo "$batch claim(s) per call: $rps calls/s = $(python3 -c "print(round($rps * $batch))") claims/s"
done
echo "claims held: $($cli hget "$deal" held)"
[ -n "${STATS:-}" ] && $cli info commandstats | grep -E "evalsha|hincrby|hset|zadd|xadd|sadd|hmget|hget|time|publish"
