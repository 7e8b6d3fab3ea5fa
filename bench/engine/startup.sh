#!/usr/bin/env bash
# Item 5: start-up overhead, from exec of `suite run` to the first request nginx sees.
# nginx logs `$msec` (ms resolution, written when the response is done) for each request; a
# Python wrapper records time.time() just before execv() of the client. RUNS repeats; median shown.
# Usage: bench/engine/startup.sh             # RUNS=10
. "$(dirname "$0")/common.sh"
RUNS="${RUNS:-10}"
ensure_tools
trap stop_nginx EXIT
ACCESS_LOG=1 start_nginx
ALOG="$SCRATCH/nginx/logs/access.log"

write_suite "$SCRATCH/st" startup <<YAML
execution:
- concurrency: 1
  iterations: 1
  scenario: st
scenarios:
  st:
    requests:
    - url: ${URL}first
YAML
# a 404 is still a request nginx logs; the label makes it easy to find
exec_at() { python3 -c 'import os,sys,time; open(sys.argv[1],"w").write(repr(time.time())); os.execvp(sys.argv[2], sys.argv[2:])' "$@"; }

measure() { # name cmd...
  local name="$1"; shift
  local res=()
  for i in $(seq "$RUNS"); do
    : > "$ALOG"; sleep 0.05
    exec_at "$SCRATCH/t0" "$@" > "$SCRATCH/$name.out" 2>&1 || true
    sleep 0.2   # nginx writes the log line at the end of the request
    local t0 t1
    t0=$(cat "$SCRATCH/t0"); t1=$(awk 'NR==1{print $1}' "$ALOG")
    res+=("$(echo "($t1 - $t0)*1000" | bc -l)")
  done
  printf '%s\n' "${res[@]}" | sort -n | awk -v n="$name" '{a[NR]=$1} END{printf "%-6s runs=%d min=%.1fms median=%.1fms max=%.1fms\n", n, NR, a[1], a[int((NR+1)/2)], a[NR]}'
}
cd "$SCRATCH/st"
measure suite taskset -c "$CLIENT_CPU" "$SUITE" run -t . -a "$SCRATCH/st/reports" --no-monit
measure wrk taskset -c "$CLIENT_CPU" "$(command -v wrk)" -t1 -c1 -d1s "${URL}first"
log "raw outputs in $SCRATCH"
