#!/usr/bin/env bash
# Item 4: open-model (arrival-rate) accuracy, and coordinated-omission correction under a stall.
#  A) RATE rps for DURATION s: achieved rate vs target, send lateness (mean and p50/p99/max), client CPU.
#  B) RATE rps for STALL_DURATION s with nginx's worker SIGSTOPped for 1 s at the middle:
#     corrected vs uncorrected p99.
# Lateness is read from summary.json's `corrected` object: avg_lag, lag_percentiles, max_lag
# (null when nothing went out late: then every lag was 0 and corrected equals uncorrected).
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
o=s["overall"]; c=o["corrected"]
# Nothing sent late: lags were all 0 and the corrected figures are the uncorrected ones.
if c is None:
    c={"avg_lag":0.0,"lag_percentiles":{"p50":0.0,"p99":0.0},"max_lag":0.0,"percentiles":o["percentiles"],"max_rt":o["max_rt"]}
lag=c.get("lag_percentiles") or {}
ms=lambda v,d=2: "n/a" if v is None else f"{1000*v:.{d}f}"
sent=s["requests_sent"]; ach=sent/hold
print(f"{label}: target {rate:.0f} rps x {hold:.0f} s = {rate*hold:.0f}; sent {sent} (hits {o['hits']}, fail {o['fail']}); "
      f"achieved {ach:.1f} rps = {100*(ach-rate)/rate:+.2f}% ; load_secs {s['load_secs']:.2f}")
print(f"{label}: lateness mean/p50/p99/max (avg_lag, lag_percentiles, max_lag) "
      f"{ms(c.get('avg_lag'),3)}/{ms(lag.get('p50'),3)}/{ms(lag.get('p99'),3)}/{ms(c.get('max_lag'),3)} ms")
print(f"{label}: uncorrected p50/p99/p99.9/max {ms(o['percentiles']['p50'])}/{ms(o['percentiles']['p99'])}/{ms(o['percentiles']['p99_9'])}/{ms(o['max_rt'])} ms; "
      f"corrected p50/p99/p99.9/max {ms(c['percentiles']['p50'])}/{ms(c['percentiles']['p99'])}/{ms(c['percentiles']['p99_9'])}/{ms(c['max_rt'])} ms")
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

# Peer in the same run: oha's rate limiter (-q) with and without its coordinated-omission
# correction (--latency-correction), same rate, connections = suite's default max-vus (100).
oha_row() { # label jsonfile timefile hold
  python3 - "$@" <<'PY'
import json,sys
label,f,t,hold=sys.argv[1],sys.argv[2],sys.argv[3],float(sys.argv[4])
d=json.load(open(f)); n=sum(d["statusCodeDistribution"].values()); p=d["latencyPercentiles"]
u,st,m,e=open(t).read().split()[:4]
print(f"{label}: sent {n} in {hold:.0f} s = {n/hold:.1f} rps; p50/p99/p99.9/max {1000*p['p50']:.2f}/{1000*p['p99']:.2f}/{1000*p['p99.9']:.2f}/{1000*d['summary']['slowest']:.2f} ms; "
      f"client cpu {float(u)+float(st):.2f} s; max RSS {int(m)/1024:.1f} MB")
PY
}
if [ -n "${OHA:-}" ]; then
  sleep 1
  timed "$SCRATCH/oha-steady.time" "$OHA" -c 100 -q "$RATE" -z "${DURATION}s" --latency-correction --no-tui --output-format json "$URL" > "$SCRATCH/oha-steady.json"
  oha_row "oha steady (corrected)" "$SCRATCH/oha-steady.json" "$SCRATCH/oha-steady.time" "$DURATION"
  for mode in plain corrected; do
    flag=""; [ "$mode" = corrected ] && flag="--latency-correction"
    sleep 1
    timed "$SCRATCH/oha-stall-$mode.time" "$OHA" -c 100 -q "$RATE" -z "${STALL_DURATION}s" $flag --no-tui --output-format json "$URL" > "$SCRATCH/oha-stall-$mode.json" &
    OP=$!
    sleep "$(echo "$STALL_DURATION/2" | bc -l)"
    kill -STOP "$WORKER"; sleep 1; kill -CONT "$WORKER"
    wait $OP || true
    oha_row "oha stall(1s) ($mode)" "$SCRATCH/oha-stall-$mode.json" "$SCRATCH/oha-stall-$mode.time" "$STALL_DURATION"
  done
fi
log "raw outputs in $SCRATCH"
