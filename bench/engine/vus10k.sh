#!/usr/bin/env bash
# Item 2: 10,000 concurrent virtual users against a slow endpoint; the runner's peak RSS (VmHWM).
# Target: demo-target's GET /sleep/{ms} (nginx cannot sleep), pinned to core 0, no workers.
# Usage: bench/engine/vus10k.sh      # VUS=10000 SLEEP_MS=2000 RAMP=10 HOLD=30
. "$(dirname "$0")/common.sh"
VUS="${VUS:-10000}"; SLEEP_MS="${SLEEP_MS:-2000}"; RAMP="${RAMP:-10}"; HOLD="${HOLD:-30}"
ensure_tools
ulimit -n 20000 2>/dev/null || true   # 10k sockets each side; 20000 is this machine's hard limit
log "open files limit: $(ulimit -n)"
taskset -c "$SERVER_CPU" "$DEMO_TARGET" --port 0 --workers 0 --port-file "$SCRATCH/port" > "$SCRATCH/demo.out" 2>&1 &
DPID=$!
trap 'kill $DPID 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$SCRATCH/port" ] && break; sleep 0.1; done
DPORT=$(cat "$SCRATCH/port")
log "demo-target on 127.0.0.1:$DPORT (pid $DPID)"

write_suite "$SCRATCH/vu" vus <<YAML
execution:
- concurrency: $VUS
  ramp-up: ${RAMP}s
  hold-for: ${HOLD}s
  scenario: slow
scenarios:
  slow:
    timeout: 30s
    requests:
    - url: http://127.0.0.1:$DPORT/sleep/$SLEEP_MS
YAML
cd "$SCRATCH/vu"
timed "$SCRATCH/suite.time" "$SUITE" run -t . -a "$SCRATCH/vu/reports" --no-monit > "$SCRATCH/suite.out" 2>&1 &
TPID=$!
sleep 0.3
SPID=$(pgrep -n -f "$SUITE run -t . -a $SCRATCH/vu/reports" || true)
# per-second VmRSS / VmHWM / threads / open sockets of the suite process
echo "t_s vmrss_kb vmhwm_kb threads fds" > "$SCRATCH/rss.txt"
t=0
while kill -0 "$SPID" 2>/dev/null; do
  awk -v t=$t '/^VmRSS/{r=$2} /^VmHWM/{h=$2} /^Threads/{th=$2} END{printf "%d %s %s %s ", t, r, h, th}' "/proc/$SPID/status" 2>/dev/null >> "$SCRATCH/rss.txt" || break
  ls "/proc/$SPID/fd" 2>/dev/null | wc -l >> "$SCRATCH/rss.txt"
  sleep 1; t=$((t+1))
done
wait $TPID || true
tail -12 "$SCRATCH/suite.out"
echo "--- per-second samples (every 5th) ---"
awk 'NR==1 || NR%5==2' "$SCRATCH/rss.txt"
python3 - "$SCRATCH" <<'PY'
import json,sys
d=sys.argv[1]
s=json.load(open(d+"/vu/reports/latest/summary.json"))["tests"][0]
o=s.get("overall") or {}
rows=[l.split() for l in open(d+"/rss.txt").read().split("\n")[1:] if len(l.split())==5]
hwm=max(int(r[2]) for r in rows)/1024; fds=max(int(r[4]) for r in rows)
print(f"requests={s['requests_sent']} hits={o.get('hits')} fail={o.get('fail')} concurrency={o.get('concurrency')} "
      f"peak_VmHWM={hwm:.1f}MB max_fds={fds}")
PY
echo "GNU time max RSS: $(maxrss_mb_of "$SCRATCH/suite.time") MB, cpu $(cpu_of "$SCRATCH/suite.time") s"

# Peers in the same run, same endpoint and connection count, for HOLD seconds.
sleep 3
timed "$SCRATCH/wrk.time" wrk -t1 -c"$VUS" -d"${HOLD}s" --timeout 30s "http://127.0.0.1:$DPORT/sleep/$SLEEP_MS" > "$SCRATCH/wrk.out" 2>&1 || true
echo "wrk -c$VUS: $(awk '/requests in/{print $1, "requests"}' "$SCRATCH/wrk.out"), $(grep -o 'Socket errors.*' "$SCRATCH/wrk.out" || echo 'no socket errors'); max RSS $(maxrss_mb_of "$SCRATCH/wrk.time") MB, cpu $(cpu_of "$SCRATCH/wrk.time") s"
if [ -n "${OHA:-}" ]; then
  sleep 3
  timed "$SCRATCH/oha.time" "$OHA" -c "$VUS" -z "${HOLD}s" -t 30s --no-tui --output-format json "http://127.0.0.1:$DPORT/sleep/$SLEEP_MS" > "$SCRATCH/oha.json" 2>&1 || true
  n=$(python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(sum(d['statusCodeDistribution'].values()), 'responses,', sum(d['errorDistribution'].values()), 'errors')" "$SCRATCH/oha.json" 2>/dev/null || echo "no JSON")
  echo "oha -c $VUS: $n; max RSS $(maxrss_mb_of "$SCRATCH/oha.time") MB, cpu $(cpu_of "$SCRATCH/oha.time") s"
fi
log "raw outputs in $SCRATCH"
