#!/usr/bin/env bash
# Item 3: memory over a long run at RATE rps (open model). Samples the runner's VmRSS every
# INTERVAL s and fits a least-squares slope over the samples after WARMUP s, in MB per hour.
# Then the peer, oha at the same rate (-q) for PEER_DURATION s, sampled the same way (oha keeps
# every sample, so its slope shows what that costs).
# Usage: bench/engine/longrun.sh     # RATE=10000 DURATION=660 WARMUP=60 INTERVAL=5 PEER_DURATION=240
. "$(dirname "$0")/common.sh"
RATE="${RATE:-10000}"; DURATION="${DURATION:-660}"; WARMUP="${WARMUP:-60}"; INTERVAL="${INTERVAL:-5}"
PEER_DURATION="${PEER_DURATION:-240}"
ensure_tools
trap stop_nginx EXIT
start_nginx
write_suite "$SCRATCH/long" longrun <<YAML
execution:
- concurrency: 50
  hold-for: ${DURATION}s
  throughput: $RATE
  arrival-rate: true
  scenario: lr
scenarios:
  lr:
    requests:
    - url: $URL
YAML
cd "$SCRATCH/long"
timed "$SCRATCH/long.time" "$SUITE" run -t . -a "$SCRATCH/long/reports" --no-monit > "$SCRATCH/long.out" 2>&1 &
TP=$!
sleep 0.3
SPID=$(pgrep -n -f "$SUITE run -t . -a $SCRATCH/long/reports")
START=$(date +%s.%N)
echo "t_s vmrss_kb" > "$SCRATCH/rss.txt"
while kill -0 "$SPID" 2>/dev/null; do
  r=$(awk '/^VmRSS/{print $2}' "/proc/$SPID/status" 2>/dev/null) || break
  [ -n "$r" ] && echo "$(echo "$(date +%s.%N) - $START" | bc -l) $r" >> "$SCRATCH/rss.txt"
  sleep "$INTERVAL"
done
wait $TP || true
python3 - "$SCRATCH/rss.txt" "$WARMUP" "$DURATION" "$SCRATCH/long/reports/latest/summary.json" <<'PY'
import json,sys
rows=[tuple(map(float,l.split())) for l in open(sys.argv[1]).read().split("\n")[1:] if l.strip()]
w=float(sys.argv[2]); d=float(sys.argv[3])
pts=[(t,r/1024) for t,r in rows if w<=t<=d]
n=len(pts); mt=sum(t for t,_ in pts)/n; mr=sum(r for _,r in pts)/n
slope=sum((t-mt)*(r-mr) for t,r in pts)/sum((t-mt)**2 for t,_ in pts)
s=json.load(open(sys.argv[4]))["tests"][0]
print(f"samples {n} from t={pts[0][0]:.0f}s to t={pts[-1][0]:.0f}s ({(pts[-1][0]-pts[0][0])/60:.1f} min); "
      f"RSS first {pts[0][1]:.1f} MB, last {pts[-1][1]:.1f} MB, max {max(r for _,r in pts):.1f} MB")
print(f"slope {slope*3600:.2f} MB/hour; requests {s['requests_sent']} ({s['requests_sent']/d:.0f} rps), fail {s['overall']['fail']}")
PY

if [ -n "${OHA:-}" ]; then
  sleep 2
  timed "$SCRATCH/oha.time" "$OHA" -c 100 -q "$RATE" -z "${PEER_DURATION}s" --no-tui --output-format json "$URL" > "$SCRATCH/oha.json" &
  OP=$!
  sleep 0.3
  OPID=$(pgrep -n -x oha || true)
  START=$(date +%s.%N)
  echo "t_s vmrss_kb" > "$SCRATCH/oha-rss.txt"
  while [ -n "$OPID" ] && kill -0 "$OPID" 2>/dev/null; do
    r=$(awk '/^VmRSS/{print $2}' "/proc/$OPID/status" 2>/dev/null) || break
    [ -n "$r" ] && echo "$(echo "$(date +%s.%N) - $START" | bc -l) $r" >> "$SCRATCH/oha-rss.txt"
    sleep "$INTERVAL"
  done
  wait $OP || true
  python3 - "$SCRATCH/oha-rss.txt" "$PEER_DURATION" "$SCRATCH/oha.json" <<'PY'
import json,sys
rows=[tuple(map(float,l.split())) for l in open(sys.argv[1]).read().split("\n")[1:] if l.strip()]
d=float(sys.argv[2]); pts=[(t,r/1024) for t,r in rows if 10<=t<=d]
n=len(pts); mt=sum(t for t,_ in pts)/n; mr=sum(r for _,r in pts)/n
slope=sum((t-mt)*(r-mr) for t,r in pts)/sum((t-mt)**2 for t,_ in pts)
total=sum(json.load(open(sys.argv[3]))["statusCodeDistribution"].values())
print(f"oha: samples {n} from t={pts[0][0]:.0f}s to t={pts[-1][0]:.0f}s; RSS first {pts[0][1]:.1f} MB, last {pts[-1][1]:.1f} MB; "
      f"slope {slope*3600:.0f} MB/hour; requests {total} ({total/d:.0f} rps)")
PY
fi
log "raw outputs in $SCRATCH"
