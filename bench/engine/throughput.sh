#!/usr/bin/env bash
# Item 1: requests per client CPU-second at 50 connections; suite vs wrk (and oha when present).
# nginx (1 worker) on core 0, each client alone on core 1, one after another in this one run.
# Usage: bench/engine/throughput.sh        # DURATION=15 CONNS=50 ROUNDS=1
. "$(dirname "$0")/common.sh"
DURATION="${DURATION:-15}"
CONNS="${CONNS:-50}"
ROUNDS="${ROUNDS:-1}"
ensure_tools
trap stop_nginx EXIT
start_nginx
curl -s "$URL" >/dev/null

write_suite "$SCRATCH/tp" throughput <<YAML
execution:
- concurrency: $CONNS
  hold-for: ${DURATION}s
  scenario: tp
scenarios:
  tp:
    requests:
    - url: $URL
YAML

printf '%-6s %-5s %10s %8s %8s %10s %14s %9s\n' tool round requests wall_s cpu_s rps req_per_cpu_s maxrss_MB
for r in $(seq "$ROUNDS"); do
  # wrk: one thread, CONNS connections
  timed "$SCRATCH/wrk.time" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$URL" > "$SCRATCH/wrk.out"
  n=$(awk '/requests in/{print $1}' "$SCRATCH/wrk.out")
  c=$(cpu_of "$SCRATCH/wrk.time"); w=$(awk '{print $4}' "$SCRATCH/wrk.time")
  printf '%-6s %-5s %10s %8s %8s %10.0f %14.0f %9s\n' wrk "$r" "$n" "$w" "$c" "$(echo "$n/$DURATION" | bc -l)" "$(echo "$n/$c" | bc -l)" "$(maxrss_mb_of "$SCRATCH/wrk.time")"
  sleep 1
  if [ -n "${OHA:-}" ]; then
    timed "$SCRATCH/oha.time" "$OHA" -c "$CONNS" -z "${DURATION}s" --no-tui --output-format json "$URL" > "$SCRATCH/oha.json"
    n=$(python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(sum(d['statusCodeDistribution'].values()))" "$SCRATCH/oha.json")
    c=$(cpu_of "$SCRATCH/oha.time"); w=$(awk '{print $4}' "$SCRATCH/oha.time")
    printf '%-6s %-5s %10s %8s %8s %10.0f %14.0f %9s\n' oha "$r" "$n" "$w" "$c" "$(echo "$n/$DURATION" | bc -l)" "$(echo "$n/$c" | bc -l)" "$(maxrss_mb_of "$SCRATCH/oha.time")"
    sleep 1
  fi
  # suite: every sample goes into its histograms/per-second stats; CPU includes start-up and reports
  (cd "$SCRATCH/tp" && timed "$SCRATCH/suite.time" "$SUITE" run -t . -a "$SCRATCH/tp/reports" --no-monit > "$SCRATCH/suite.out" 2>&1)
  n=$(python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(d['tests'][0]['requests_sent'])" "$SCRATCH/tp/reports/latest/summary.json")
  c=$(cpu_of "$SCRATCH/suite.time"); w=$(awk '{print $4}' "$SCRATCH/suite.time")
  printf '%-6s %-5s %10s %8s %8s %10.0f %14.0f %9s\n' suite "$r" "$n" "$w" "$c" "$(echo "$n/$DURATION" | bc -l)" "$(echo "$n/$c" | bc -l)" "$(maxrss_mb_of "$SCRATCH/suite.time")"
  sleep 1
done
log "raw outputs in $SCRATCH"
