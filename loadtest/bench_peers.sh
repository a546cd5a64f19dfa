#!/usr/bin/env bash
# Benchmarks livecart side by side with the reference websocket servers ("peers") of the shared
# fan-out bench (../shared/bench, see its README.md). Run from the repo root after `scripts/setup`:
#
#   loadtest/bench_peers.sh                                  # livecart node-uws node-ws py-aiohttp, S1 S2 S3
#   ROUNDS=2 SCENARIOS="S1 S3" loadtest/bench_peers.sh       # medians over two rounds
#   PEERS="livecart node-ws" SCENARIOS=S4 loadtest/bench_peers.sh   # idle memory per connection only
#
# Env: PEERS, SCENARIOS, ROUNDS, OUT (passed to run_peers.sh); BENCH_DIR (default: ../shared/bench
# beside the repo); BENCH_HOME (the bench's install dir, default /tmp/livecart-bench); LIVECART_SECRET
# (default: a random one per invocation). The table is printed and saved under $BENCH_HOME/results/.
# run_peers.sh pins each server to CPU 0 and the load client to CPU 1; everything stays on 127.0.0.1.
# livecart runs one worker per core it may use, so one when pinned to CPU 0. Two workers (issue 16.5):
#   SERVER_CPU=0,1 LIVECART_WORKERS=2 PEERS=livecart SCENARIOS=S3 ROUNDS=2 loadtest/bench_peers.sh
# (the load client then shares CPU 1 with a worker; CPU and memory count every process of the server).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
BENCH_DIR=${BENCH_DIR:-$(dirname "$repo")/shared/bench}
export BENCH_HOME=${BENCH_HOME:-/tmp/livecart-bench}
livecart=$repo/.venv/bin/livecart   # the repo's editable install: it runs this working tree
[ -x "$livecart" ] || { echo "bench_peers: $livecart missing; run scripts/setup first" >&2; exit 2; }
[ -x "$BENCH_DIR/run_peers.sh" ] || { echo "bench_peers: no run_peers.sh in $BENCH_DIR (set BENCH_DIR)" >&2; exit 2; }

# (a) The bench installs its npm packages and Python venv into BENCH_HOME once.
[ -d "$BENCH_HOME/node_modules" ] || "$BENCH_DIR/setup.sh"

# (c) One signing secret shared by the server (through the environment) and the tokens minted here.
# The ingest limit (default 5,000 events/s per token) is lifted: S2 publishes 200 HTTP events per second.
export LIVECART_SECRET=${LIVECART_SECRET:-bench-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')}
export LIVECART_INGEST_RATE=${LIVECART_INGEST_RATE:-100000} LIVECART_INGEST_BURST=${LIVECART_INGEST_BURST:-100000}
VIEWER_TOKEN=$("$livecart" token --room bench --role viewer)
INGEST_TOKEN=$("$livecart" token --room bench --role ingest)

# (b) SUBJECT_CMD must be a single command that takes the port as its last argument. This wrapper
# gives every run a fresh data dir (its own embedded redis-server, empty room log) and execs livecart,
# so run_peers.sh measures (and stops) the livecart process itself plus its redis child.
work=$(mktemp -d "${TMPDIR:-/tmp}/livecart-bench.XXXXXX")   # no spaces: run_peers.sh splits SUBJECT_CMD
trap 'rm -rf "$work"' EXIT
cat >"$work/serve" <<EOF
#!/usr/bin/env bash
port=\${!#}
dir=$work/data-\$port
rm -rf "\$dir" && mkdir -p "\$dir"
exec $(printf '%q' "$livecart") serve --host 127.0.0.1 --data-dir "\$dir" --port "\$port"
EOF
chmod +x "$work/serve"

# (d) Name livecart as the bench's subject: viewers on the room socket, events POSTed to ingest as a
# one-comment batch whose id and text carry the harness's ev<seq> marker. run_peers.sh replaces
# {port} and lets the shell parse SUBJECT_ARGS (hence the inner single quotes).
export SUBJECT=livecart SUBJECT_CMD=$work/serve
export SUBJECT_ARGS="--proto ws --url 'ws://127.0.0.1:{port}/ws/rooms/bench?token=$VIEWER_TOKEN' \
  --publish http://127.0.0.1:{port}/api/rooms/bench/events \
  --publish-header 'Authorization: Bearer $INGEST_TOKEN' \
  --template '[{\"id\":\"{marker}\",\"type\":\"comment\",\"user\":{\"id\":\"b\",\"name\":\"b\"},\"text\":\"{marker} {pad}\"}]'"

# (e) Run it. 8,000 clients need file descriptors (run_peers.sh raises the limit too).
export PEERS=${PEERS:-"livecart node-uws node-ws py-aiohttp"}
export SCENARIOS=${SCENARIOS:-"S1 S2 S3"} ROUNDS=${ROUNDS:-1}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "bench_peers: livecart=$livecart bench=$BENCH_DIR peers=[$PEERS] scenarios=[$SCENARIOS] rounds=$ROUNDS" >&2
"$BENCH_DIR/run_peers.sh"
