#!/usr/bin/env bash
# Benchmark: monitoring-agent (release build) vs an MMS-style Python psutil agent, side by side in one run.
#
# 50 real processes (tree.py: a frontend + 49 python workers named model_service_worker.py), one client per agent
# asking for every *_workers_* and *_all_* metric plus the totals (108 names) at a 1 s interval, and /proc
# measurements of each agent's CPU (utime+stime over DURATION seconds, % of one core) and RSS (VmRSS, VmHWM).
#
#   bench/agent/bench.sh                 # DURATION=60 WORKERS=49 VENV=/tmp/bztvenv
#   AGENT_ARGS="--rescan 1" bench/agent/bench.sh   # extra flags for monitoring-agent
#
# The venv gets psutil if it lacks it (`python3 -m venv $VENV && $VENV/bin/pip install psutil`).
set -euo pipefail

DURATION=${DURATION:-60}
WORKERS=${WORKERS:-49}
VENV=${VENV:-/tmp/bztvenv}
AGENT_ARGS=${AGENT_ARGS:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

echo "== building (release)"
cargo build --quiet --release -p monitoring-agent --manifest-path "$root/Cargo.toml"
agent_bin="$root/target/release/monitoring-agent"
if ! "$VENV/bin/python" -c 'import psutil' 2>/dev/null; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet psutil
fi

echo "== machine"
echo "cores: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); kernel: $(uname -r)"
echo "processes on the host: $(ls /proc | grep -c '^[0-9]')"
echo "python: $("$VENV/bin/python" --version 2>&1); psutil: $("$VENV/bin/python" -c 'import psutil; print(psutil.__version__)')"
echo "agent binary: $(stat -c %s "$agent_bin") bytes; agent flags: ${AGENT_ARGS:-(defaults)}"

echo "== starting 1 frontend + $WORKERS workers"
python3 "$here/tree.py" --workers "$WORKERS" --pid-file "$work/model_server.pid" > "$work/tree.out" &
pids+=($!)
wait_line "$work/tree.out" '^ready' > /dev/null

"$agent_bin" --bind 127.0.0.1:0 --frontend-pid-file "$work/model_server.pid" \
    --worker-match model_service_worker.py $AGENT_ARGS > "$work/ours.out" 2> "$work/ours.err" &
ours=$!
pids+=($ours)
"$VENV/bin/python" "$here/psutil_agent.py" --port 0 --pid-file "$work/model_server.pid" \
    > "$work/psutil.out" 2> "$work/psutil.err" &
psu=$!
pids+=($psu)
ours_addr=$(wait_line "$work/ours.out" 'listening on' | awk '{print $NF}')
psu_addr=$(wait_line "$work/psutil.out" 'listening on' | awk '{print $NF}')

metrics=$("$agent_bin" --list-metrics | awk '{print $1}' | grep -E '_(workers|all)_' | tr '\n' ' ')
metrics="$metrics total_processes total_workers orphans zombies"
echo "== client: $(echo $metrics | wc -w) metrics at interval 1 s to both agents"
python3 "$here/client.py" --duration $((DURATION + 10)) --metrics "$metrics" \
    "monitoring-agent=$ours_addr" "psutil-agent=$psu_addr" > "$work/client.out" &
client=$!
pids+=($client)

# Warm-up: first scans, psutil's first cpu_percent calls.
sleep 5
echo "== measuring for $DURATION s"
python3 "$here/measure.py" --duration "$DURATION" "monitoring-agent=$ours" "psutil-agent=$psu"
wait "$client"
cat "$work/client.out"
