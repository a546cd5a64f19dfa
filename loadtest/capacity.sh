#!/usr/bin/env bash
# What one node holds on this machine: the README's capacity table, measured with livecart-loadtest.
# A fresh node (embedded redis-server) pinned to CPU 0, the load tool pinned to CPU 1; each run writes
# its JSON and HTML report under $OUT. Run from the repo root after `scripts/setup`:
#
#   loadtest/capacity.sh                       # all figures (~7 minutes)
#   FIGURES="sockets storm" loadtest/capacity.sh   # of: sockets storm room resume rush claims
#
# Each figure is one livecart-loadtest command (printed before it runs); the table in the README
# quotes the command and the result. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/livecart-capacity/$(date -u +%Y%m%dT%H%M%SZ)}
PORT=${PORT:-18400}
FIGURES=${FIGURES:-"sockets storm room resume rush claims"}
mkdir -p "$OUT"
export LIVECART_SECRET=${LIVECART_SECRET:-capacity-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')}
# The ingest limit (5,000 events/s per token) stays; the storms here send at most 400 events/s.
ulimit -n "$(ulimit -Hn)"
taskset -c 0 .venv/bin/livecart serve --port "$PORT" --data-dir "$OUT/data" >"$OUT/serve.log" 2>&1 &
node=$!
trap 'kill "$node" 2>/dev/null; wait "$node" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

run() {  # run NAME SCENARIO ARGS...
  local name=$1; shift
  echo "== $name: livecart-loadtest $* (load average: $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$OUT/summary.txt"
  taskset -c 1 .venv/bin/livecart-loadtest "$@" --url "http://127.0.0.1:$PORT" --workers 1 --quiet --server-pid "$node" \
    --json "$OUT/$name.json" --html "$OUT/$name.html" | tee -a "$OUT/summary.txt" || true
}
for figure in $FIGURES; do
  case $figure in
    sockets) run sockets viewers --clients 10000 --rate 1 --duration 20 --ramp 1000 ;;
    storm)   for rate in 100 200 300 400; do
               run "storm-500x$rate" viewers --clients 500 --rate "$rate" --duration 20; done ;;
    room)    for rate in 10 20 50; do
               run "room-2000x$rate" viewers --clients 2000 --rate "$rate" --duration 20; done ;;
    resume)  for n in 1000 2000; do
               run "resume-$n" reconnect-storm --clients "$n" --rate 20 --duration 20; done ;;
    rush)    run rush deal-rush --clients 2000 --stock 500 --limit 1 --claims 2 ;;
    claims)  run claims deal-rush --clients 2000 --stock 1000000 --limit 1000 --claims 10 --redis-limit
             for rate in 2500 5000 7500; do
               run "claims-paced-$rate" deal-rush --clients 2000 --stock 1000000 --limit 1000 --claims 20 \
                 --claim-rate "$rate"; done ;;
  esac
done
echo "results: $OUT"
