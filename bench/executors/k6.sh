#!/usr/bin/env bash
# Issue 12: what reading k6's results costs suite. The same k6 script runs alone and under
# `executor: k6` against nginx (core 0); suite and k6 share core 1. suite's CPU is its whole
# process tree's CPU minus k6's own (k6 is started through a wrapper that times it), per request
# read, next to k6's CPU per request; the native engine's CPU per request for the same load is
# printed beside them. Target: suite's share <= 10 % of k6's.
# Usage: bench/executors/k6.sh        # DURATION=20 VUS=50
. "$(dirname "$0")/../engine/common.sh"
DURATION="${DURATION:-20}"
VUS="${VUS:-50}"
ensure_tools
K6="${K6:-$ROOT/.tools/venv-k6/bin/k6}"
[ -x "$K6" ] || "$ROOT/scripts/test-tools.sh" >/dev/null
trap stop_nginx EXIT
start_nginx

cat > "$SCRATCH/script.js" <<JS
import http from 'k6/http';
export default function () { http.get('$URL'); }
JS
cat > "$SCRATCH/k6-timed" <<SH
#!/bin/sh
if [ "\$1" = version ]; then exec "$K6" version; fi
exec /usr/bin/time -f '%U %S %M %e' -o "$SCRATCH/k6-inside.time" "$K6" "\$@"
SH
chmod +x "$SCRATCH/k6-timed"
write_suite "$SCRATCH/ex" k6 <<YAML
execution:
- executor: k6
  concurrency: $VUS
  hold-for: ${DURATION}s
  scenario: k6
scenarios:
  k6:
    script: $SCRATCH/script.js
modules:
  k6:
    path: $SCRATCH/k6-timed
YAML
write_suite "$SCRATCH/native" native <<YAML
execution:
- concurrency: $VUS
  hold-for: ${DURATION}s
  scenario: n
scenarios:
  n:
    requests:
    - url: $URL
YAML

per_req_us() { echo "$1 * 1000000 / $2" | bc -l; }
printf '%-22s %10s %8s %16s\n' run requests cpu_s cpu_us_per_req

timed "$SCRATCH/k6-alone.time" "$K6" run --quiet --address '' --vus "$VUS" --duration "${DURATION}s" \
  --summary-export "$SCRATCH/k6-alone.json" "$SCRATCH/script.js" > /dev/null 2>&1
n=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['metrics']['http_reqs']['count'])" "$SCRATCH/k6-alone.json")
c=$(cpu_of "$SCRATCH/k6-alone.time")
printf '%-22s %10s %8s %16.1f\n' "k6 alone" "$n" "$c" "$(per_req_us "$c" "$n")"
sleep 1

(cd "$SCRATCH/ex" && timed "$SCRATCH/ex.time" "$SUITE" run -t . -a "$SCRATCH/ex/reports" --no-monit > "$SCRATCH/ex.out" 2>&1)
n=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['tests'][0]['requests_sent'])" "$SCRATCH/ex/reports/latest/summary.json")
total=$(cpu_of "$SCRATCH/ex.time"); k=$(cpu_of "$SCRATCH/k6-inside.time")
s=$(echo "$total - $k" | bc -l)
printf '%-22s %10s %8s %16.1f\n' "k6 under suite" "$n" "$k" "$(per_req_us "$k" "$n")"
printf '%-22s %10s %8.2f %16.1f\n' "suite reading k6" "$n" "$s" "$(per_req_us "$s" "$n")"
printf '%-22s %26.1f %%\n' "suite / k6 per request" "$(echo "100 * $s / $k" | bc -l)"
sleep 1

(cd "$SCRATCH/native" && timed "$SCRATCH/native.time" "$SUITE" run -t . -a "$SCRATCH/native/reports" --no-monit > "$SCRATCH/native.out" 2>&1)
n=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['tests'][0]['requests_sent'])" "$SCRATCH/native/reports/latest/summary.json")
c=$(cpu_of "$SCRATCH/native.time")
printf '%-22s %10s %8s %16.1f\n' "suite native engine" "$n" "$c" "$(per_req_us "$c" "$n")"
log "raw outputs in $SCRATCH"
