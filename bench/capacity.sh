#!/usr/bin/env bash
# Verdict quality and cost of the capacity search (`search:`, issue 14) against the reference a
# team uses today: a manual sweep of fixed arrival rates (here a `matrix:` over `throughput`),
# judged by the same criteria. Per trial and server kind it prints the sweep's highest passing
# rate and the load time it took, the search's knee, its probes and time, and how far apart the
# two answers are. Target: the knee within 10 % of the sweep's answer, in less load time than a
# sweep fine enough to give it.
#
# Server kinds (demo-target with WORKERS workers, WORK_MS per request):
#   wait: each worker holds its model WORK_MS without the CPU (an accelerator-bound server);
#   burn: each worker burns WORK_MS of CPU (the load generator shares the machine's cores).
# The sweep's rates go from SWEEP_LOW to SWEEP_HIGH in steps of SWEEP_STEP %; the search runs
# over [SEARCH_LOW, SEARCH_HIGH] to PRECISION %. Both use PROBE-second stages.
#
# Usage: bench/capacity.sh           # TRIALS=3 KINDS="wait burn" ...
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE="${SUITE:-$ROOT/target/release/suite}"
DEMO_TARGET="${DEMO_TARGET:-$ROOT/target/release/demo-target}"
TRIALS="${TRIALS:-3}"
KINDS="${KINDS:-wait burn}"
WORKERS="${WORKERS:-2}"
WORK_MS="${WORK_MS:-4}"
PROBE="${PROBE:-3}"
SWEEP_LOW="${SWEEP_LOW:-200}"
SWEEP_HIGH="${SWEEP_HIGH:-600}"
SWEEP_STEP="${SWEEP_STEP:-5}"
SEARCH_LOW="${SEARCH_LOW:-25}"
SEARCH_HIGH="${SEARCH_HIGH:-3200}"
PRECISION="${PRECISION:-5}"
P95_MS="${P95_MS:-50}"
PORT="${PORT:-18123}"
BUILD="${BUILD:-1}"
OUT="${OUT:-$ROOT/bench/capacity/out}"


if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p suite -p demo-target)
fi
mkdir -p "$OUT"
work="$(mktemp -d)"
demo_pid=""
cleanup() { [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

rates="$(python3 -c "
r, out = $SWEEP_LOW, []
while r <= $SWEEP_HIGH:
    out.append(str(round(r)))
    r *= 1 + $SWEEP_STEP / 100
print(', '.join(dict.fromkeys(out)))")"
criteria="reporting:
- module: passfail
  criteria: ['p95>${P95_MS}ms', 'fail>1%']"
scenario="scenarios:
  s:
    requests:
    - url: http://127.0.0.1:$PORT/predictions/squeezenet
      method: POST
      body: x"
mkdir -p "$work/sweep" "$work/search"
cat > "$work/sweep/sweep.yaml" <<EOF
execution:
- arrival-rate: true
  throughput: \${rate}
  hold-for: ${PROBE}s
  max-vus: 400
  scenario: s
  matrix: {rate: [$rates]}
$scenario
$criteria
EOF
cat > "$work/search/search.yaml" <<EOF
execution:
- arrival-rate: true
  max-vus: 400
  scenario: s
  search: {throughput: [$SEARCH_LOW, $SEARCH_HIGH], precision: $PRECISION%, probe: ${PROBE}s, cool-down: 1s}
$scenario
$criteria
EOF

start_demo() {
  "$DEMO_TARGET" --port "$PORT" --workers "$WORKERS" --work-ms "$WORK_MS" --work-kind "$1" >/dev/null 2>&1 &
  demo_pid=$!
  "$DEMO_TARGET" wait-ready "http://127.0.0.1:$PORT/ping" --timeout 15s
}
stop_demo() { kill "$demo_pid" 2>/dev/null; wait "$demo_pid" 2>/dev/null || true; demo_pid=""; }

echo "machine: $(nproc) cores, $(uname -sr); suite $("$SUITE" --version 2>/dev/null | head -1)"
echo "demo-target: $WORKERS workers, $WORK_MS ms/request; criteria p95>${P95_MS}ms, fail>1%; probes ${PROBE}s"
echo "sweep: $(echo "$rates" | tr ',' '\n' | wc -l) rates $SWEEP_LOW..$SWEEP_HIGH (+$SWEEP_STEP %); search: [$SEARCH_LOW, $SEARCH_HIGH] to $PRECISION %"
printf '%-5s %-5s %12s %10s %12s %7s %10s %9s\n' kind trial sweep_knee sweep_s search_knee probes search_s apart
for kind in $KINDS; do
  for trial in $(seq 1 "$TRIALS"); do
    start_demo "$kind"
    # From the scratch folder: no global_config.yaml of the repository is merged in.
    (cd "$work" && "$SUITE" run -t sweep -a "$OUT/sweep-$kind-$trial" >/dev/null 2>&1) || true
    (cd "$work" && "$SUITE" run -t search -a "$OUT/search-$kind-$trial" >/dev/null 2>&1) || true
    stop_demo
    python3 - "$OUT/sweep-$kind-$trial/latest" "$OUT/search-$kind-$trial/latest" "$kind" "$trial" <<'PY'
import csv, json, sys
sweep, search, kind, trial = sys.argv[1:]
rows = list(csv.DictReader(open(f"{sweep}/matrix.csv")))
passed = [float(r["rate"]) for r in rows if r["state"] == "passed"]
manual = max(passed) if passed else float("nan")
sweep_s = sum(json.load(open(f"{sweep}/{r['test']}[{r['cell']}]/test.json"))["load_secs"] for r in rows)
test = json.load(open(f"{search}/search/test.json"))
cap = test["capacity"]
knee = cap["knee"] if cap["knee"] is not None else float("nan")
apart = (knee - manual) / manual * 100
print(f"{kind:<5} {trial:<5} {manual:12.0f} {sweep_s:10.1f} {knee:12.0f} {len(cap['probes']):7d} {test['load_secs']:10.1f} {apart:+8.1f}%")
PY
  done
done
