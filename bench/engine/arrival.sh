#!/usr/bin/env bash
# Item 4: open-model (arrival-rate) accuracy, and coordinated-omission correction under a stall.
#  A) RATE rps for DURATION s: achieved rate vs target, mean send lateness (avg-lag), client CPU.
#  B) RATE rps for STALL_DURATION s with nginx's worker SIGSTOPped for 1 s at the middle:
#     corrected vs uncorrected p99.
# suite exposes only the mean lateness (avg_lag); a lateness p99 is not in its outputs.
# Usage: bench/engine/arrival.sh     # RATE=20000 DURATION=60 STALL_DURATION=20 CONCURRENCY=50
. "$(dirname "$0")/common.sh"
RATE="${RATE:-20000}"; DURATION="${DURATION:-60}"; STALL_DURATION="${STALL_DURATION:-20}"
CONCURRENCY="${CONCURRENCY:-50}"
ensure_tools
trap stop_nginx EXIT
start_nginx
WORKER=$(pgrep -P "$(cat "$SCRATCH/nginx/nginx.pid")")

mk() { # dir hold
  write_suite "$SCRATCH/$1" arrival <<YAML
execution:
- concurrency: $CONCURRENCY
  hold-for: ${2}s
  throughput: $RATE
  arrival-rate: true
  scenario: ar
scenarios:
  ar:
    requests:
    - url: $URL
YAML
}
report() { # dir label
  python3 - "$SCRATCH/$1/reports/latest/summary.json" "$RATE" "$2" "$3" "$SCRATCH/$1.time" <<'PY'
import json,sys
s=json.load(open(sys.argv[1]))["tests"][0]; rate=float(sys.argv[2]); hold=float(sys.argv[3]); label=sys.argv[4]
u,st,m,e=open(sys.argv[5]).read().split()[:4]
o=s["overall"]; c=o["corrected"] or {}
sent=s["requests_sent"]; ach=sent/hold
print(f"{label}: target {rate:.0f} rps x {hold:.0f} s = {rate*hold:.0f}; sent {sent} (hits {o['hits']}, fail {o['fail']}); "
      f"achieved {ach:.1f} rps = {100*(ach-rate)/rate:+.2f}% ; load_secs {s['load_secs']:.2f}")
print(f"{label}: avg lateness (avg_lag) {1000*c.get('avg_lag',0):.3f} ms; "
      f"uncorrected p50/p99/p99.9/max {1000*o['percentiles']['p50']:.2f}/{1000*o['percentiles']['p99']:.2f}/{1000*o['percentiles']['p99_9']:.2f}/{1000*o['max_rt']:.2f} ms; "
      f"corrected p50/p99/p99.9/max {1000*c['percentiles']['p50']:.2f}/{1000*c['percentiles']['p99']:.2f}/{1000*c['percentiles']['p99_9']:.2f}/{1000*c['max_rt']:.2f} ms")
print(f"{label}: client cpu {float(u)+float(st):.2f} s over {e} s wall (pinned to one core); max RSS {int(m)/1024:.1f} MB")
PY
}

mk steady "$DURATION"
(cd "$SCRATCH/steady" && timed "$SCRATCH/steady.time" "$SUITE" run -t . -a "$SCRATCH/steady/reports" --no-monit > "$SCRATCH/steady.out" 2>&1) || true
report steady "$DURATION" steady
sleep 1

mk stall "$STALL_DURATION"
(cd "$SCRATCH/stall" && timed "$SCRATCH/stall.time" "$SUITE" run -t . -a "$SCRATCH/stall/reports" --no-monit > "$SCRATCH/stall.out" 2>&1) &
RP=$!
sleep "$(echo "$STALL_DURATION/2" | bc -l)"
kill -STOP "$WORKER"; sleep 1; kill -CONT "$WORKER"
log "nginx worker $WORKER stopped for 1 s"
wait $RP || true
report stall "$STALL_DURATION" "stall(1s)"
log "raw outputs in $SCRATCH"
