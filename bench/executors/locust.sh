#!/usr/bin/env bash
# Issue 12: what reading Locust's results costs suite. The same locustfile (FastHttpUser, one
# GET, no wait) runs alone and under `executor: locust` against nginx (core 0); suite and Locust
# share core 1. suite's CPU is its whole process tree's CPU minus Locust's own (Locust is started
# through a wrapper that times it, the hook included: it runs inside Locust), per request read,
# next to Locust's CPU per request. Target: suite's share <= 10 % of Locust's.
# Usage: bench/executors/locust.sh        # DURATION=20 USERS=50
. "$(dirname "$0")/../engine/common.sh"
DURATION="${DURATION:-20}"
USERS="${USERS:-50}"
ensure_tools
LOCUST="${LOCUST:-$ROOT/.tools/venv-locust/bin/locust}"
[ -x "$LOCUST" ] || "$ROOT/scripts/test-tools.sh" >/dev/null
HOST="${URL%/}"
trap stop_nginx EXIT
start_nginx

cat > "$SCRATCH/locustfile.py" <<PY
from locust import FastHttpUser, task

class Get(FastHttpUser):
    @task
    def get(self):
        self.client.get("/", name="get")
PY
cat > "$SCRATCH/locust-timed" <<SH
#!/bin/sh
if [ "\$1" = --version ]; then exec "$LOCUST" --version; fi
exec /usr/bin/time -f '%U %S %M %e' -o "$SCRATCH/locust-inside.time" "$LOCUST" "\$@"
SH
chmod +x "$SCRATCH/locust-timed"
write_suite "$SCRATCH/ex" locust <<YAML
execution:
- executor: locust
  concurrency: $USERS
  hold-for: ${DURATION}s
  scenario: l
scenarios:
  l:
    default-address: $HOST
    script: $SCRATCH/locustfile.py
modules:
  locust:
    path: $SCRATCH/locust-timed
YAML

per_req_us() { echo "$1 * 1000000 / $2" | bc -l; }
printf '%-24s %10s %8s %16s\n' run requests cpu_s cpu_us_per_req

(cd "$SCRATCH" && timed "$SCRATCH/alone.time" "$LOCUST" -f locustfile.py --headless --only-summary --exit-code-on-error 0 -u "$USERS" -r "$USERS" \
  -t "${DURATION}s" --host "$HOST" --csv "$SCRATCH/alone" > /dev/null 2>&1)
n=$(python3 -c "import csv,sys;print([r for r in csv.DictReader(open(sys.argv[1])) if r['Name']=='Aggregated'][0]['Request Count'])" "$SCRATCH/alone_stats.csv")
c=$(cpu_of "$SCRATCH/alone.time")
printf '%-24s %10s %8s %16.1f\n' "locust alone" "$n" "$c" "$(per_req_us "$c" "$n")"
sleep 1

(cd "$SCRATCH/ex" && timed "$SCRATCH/ex.time" "$SUITE" run -t . -a "$SCRATCH/ex/reports" --no-monit > "$SCRATCH/ex.out" 2>&1)
n=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['tests'][0]['requests_sent'])" "$SCRATCH/ex/reports/latest/summary.json")
total=$(cpu_of "$SCRATCH/ex.time"); l=$(cpu_of "$SCRATCH/locust-inside.time")
s=$(echo "$total - $l" | bc -l)
printf '%-24s %10s %8s %16.1f\n' "locust under suite" "$n" "$l" "$(per_req_us "$l" "$n")"
printf '%-24s %10s %8.2f %16.1f\n' "suite reading locust" "$n" "$s" "$(per_req_us "$s" "$n")"
printf '%-24s %26.1f %%\n' "suite / locust per req" "$(echo "100 * $s / $l" | bc -l)"
log "raw outputs in $SCRATCH"
