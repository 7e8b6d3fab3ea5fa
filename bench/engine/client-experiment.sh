#!/usr/bin/env bash
# The measurement behind suite's hand-driven HTTP/1.1: requests per client CPU-second of a bare
# hyper client-connection loop and of a bare tokio + httparse loop (bench/engine/client-experiment),
# next to wrk and oha, against the same pinned nginx, 50 connections.
# Usage: bench/engine/client-experiment.sh     # DURATION=10 CONNS=50
. "$(dirname "$0")/common.sh"
DURATION="${DURATION:-10}"; CONNS="${CONNS:-50}"
ensure_tools
EXP="$ROOT/bench/engine/client-experiment"
(cd "$EXP" && cargo build --release --quiet)
trap stop_nginx EXIT
start_nginx
row() { # name requests timefile
  local c; c=$(cpu_of "$3")
  printf '%-12s %10s %8s %14.0f\n' "$1" "$2" "$c" "$(echo "$2/$c" | bc -l)"
}
printf '%-12s %10s %8s %14s\n' client requests cpu_s req_per_cpu_s
for mode in raw hyper; do
  timed "$SCRATCH/$mode.time" "$EXP/target/release/client-experiment" "$mode" "127.0.0.1:$PORT" "$CONNS" "$DURATION" > "$SCRATCH/$mode.n"
  row "$mode" "$(cat "$SCRATCH/$mode.n")" "$SCRATCH/$mode.time"; sleep 1
done
timed "$SCRATCH/wrk.time" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL" > "$SCRATCH/wrk.out"
row wrk "$(awk '/requests in/{print $1}' "$SCRATCH/wrk.out")" "$SCRATCH/wrk.time"; sleep 1
if [ -n "${OHA:-}" ]; then
  timed "$SCRATCH/oha.time" "$OHA" -c "$CONNS" -z "${DURATION}s" --no-tui --output-format json "$URL" > "$SCRATCH/oha.json"
  row oha "$(python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(sum(d['statusCodeDistribution'].values()))" "$SCRATCH/oha.json")" "$SCRATCH/oha.time"
fi
