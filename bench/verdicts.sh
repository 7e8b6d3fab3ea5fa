#!/usr/bin/env bash
# Verdict quality of `suite run --baseline` (issue 13): how often a run against a fresh baseline
# is flagged as a regression (exit 3) when the server is unchanged, slowed (p95 +15 %) or faster
# (p95 -15 %). Targets: slowed flagged >= 95 %, unchanged flagged <= 5 %, faster never exit 3.
#
# One trial: demo-target with WORK_MS -> `suite run --repeat BASE_RUNS --save-baseline` (a fresh
# baseline); then, in a shuffled order, each candidate on a restarted demo-target (unchanged:
# WORK_MS, slowed: SLOW_MS, faster: FAST_MS) -> `suite run --repeat CAND_RUNS --baseline`,
# keeping the exit code and the p95 row of summary.json's "comparisons".
# The load is an open model (RATE rps, HOLD s per run) against POST /predictions/squeezenet;
# demo-target's --work-cv gives the latencies a log-normal tail whose quantiles scale with
# work-ms. SLOW_MS/FAST_MS are calibrated so that p95 (not the mean work) moves by +/-15 %: the
# fixed overhead (loopback, frontend, worker hop) does not scale, so they are not WORK_MS*1.15
# and WORK_MS*0.85. Recalibrate on another machine: DRY=1 measures the p95 change per variant.
#
# Prints the parameters and the machine first, then per variant: trials, flagged count and rate
# with a Wilson 95 % interval, the median measured p95 change, and PASS/FAIL. Every run is one
# CSV row in bench/verdicts/out/ (gitignored).
#
# DRY=1: no --repeat/--baseline/--save-baseline (for a suite without them): each "run" is one
# plain `suite run`, and the p95 change is computed here from the labels' p95 of the baseline and
# candidate runs; no verdicts, so no flag rates. Checks the plumbing and the calibration.
#
# Usage: bench/verdicts.sh      # TRIALS=60 BASE_RUNS=5 CAND_RUNS=10 HOLD=2 RATE=200 ...
#        DRY=1 TRIALS=3 bench/verdicts.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE="${SUITE:-$ROOT/target/release/suite}"
DEMO_TARGET="${DEMO_TARGET:-$ROOT/target/release/demo-target}"
TRIALS="${TRIALS:-60}"
BASE_RUNS="${BASE_RUNS:-5}"      # repeats in each fresh baseline
CAND_RUNS="${CAND_RUNS:-10}"     # repeats per candidate; CAND_RUNS x HOLD <= 30 s of load
HOLD="${HOLD:-2}"                # seconds of load per repeat
FAST_EVERY="${FAST_EVERY:-2}"    # the faster candidate runs in every FAST_EVERY-th trial (it must never fail: fewer trials say so)
RATE="${RATE:-200}"              # arrival rate, requests per second
CONCURRENCY="${CONCURRENCY:-20}" # users serving the open model
WORKERS="${WORKERS:-2}"
WORK_MS="${WORK_MS:-2}"          # the unchanged server's mean work per request
WORK_CV="${WORK_CV:-0.4}"        # its coefficient of variation (log-normal)
SLOW_MS="${SLOW_MS:-2.35}"       # p95 about +15 % (calibrated; see the header)
FAST_MS="${FAST_MS:-1.65}"       # p95 about -15 %
DRY="${DRY:-0}"
BUILD="${BUILD:-1}"              # 0: use the binaries as they are
OUT="${OUT:-$ROOT/bench/verdicts/out}"
LABEL=pred
TEST=verdict

log() { echo "[$(date +%T)] $*" >&2; }
die() { log "error: $*"; exit 1; }

for v in TRIALS BASE_RUNS CAND_RUNS HOLD RATE CONCURRENCY WORKERS FAST_EVERY; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
for v in WORK_MS WORK_CV SLOW_MS FAST_MS; do
  [[ "${!v}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$v must be a non-negative number, got '${!v}'"
done
(( CAND_RUNS * HOLD <= 30 )) || die "CAND_RUNS x HOLD = $((CAND_RUNS * HOLD)) s: keep a candidate at 30 s of load or less"

if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && nice -n 10 cargo build --release -p suite -p demo-target)
fi
[ -x "$SUITE" ] || die "no suite binary at $SUITE"
[ -x "$DEMO_TARGET" ] || die "no demo-target binary at $DEMO_TARGET"
# (The help texts are read whole: grep -q closing the pipe early would fail it under pipefail.)
if [ "$DRY" != 1 ]; then
  help="$("$SUITE" run --help)"
  for opt in --repeat --save-baseline --baseline; do
    grep -q -- "$opt" <<<"$help" || die "$SUITE run has no $opt (issue 13 not built in); DRY=1 checks the rest"
  done
fi
grep -q -- '--work-cv' <<<"$("$DEMO_TARGET" --help)" || die "$DEMO_TARGET has no --work-cv"

SCRATCH="$(mktemp -d /tmp/verdicts-bench.XXXXXX)"
DEMO_PID=""
stop_demo() {
  if [ -n "$DEMO_PID" ]; then
    kill "$DEMO_PID" 2>/dev/null || true
    wait "$DEMO_PID" 2>/dev/null || true
    DEMO_PID=""
  fi
}
cleanup() {
  stop_demo
  if [ "${KEEP:-0}" = 1 ]; then log "scratch kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_demo WORK: demo-target on 127.0.0.1 (a free port), then the test file pointing at it.
start_demo() {
  stop_demo
  local dir="$SCRATCH/demo"
  rm -rf "$dir"; mkdir -p "$dir"
  "$DEMO_TARGET" --bind 127.0.0.1 --port 0 --port-file "$dir/port" --workers "$WORKERS" \
    --work-ms "$1" --work-cv "$WORK_CV" --models squeezenet >"$dir/out" 2>"$dir/err" &
  DEMO_PID=$!
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
  [ -s "$dir/port" ] || die "demo-target did not start: $(cat "$dir/err")"
  local port; port="$(cat "$dir/port")"
  "$DEMO_TARGET" wait-ready "http://127.0.0.1:$port/ping" --timeout 10s >/dev/null
  # The same test name and label each time: only the port in the URL changes.
  mkdir -p "$SCRATCH/tests"
  cat >"$SCRATCH/tests/$TEST.yaml" <<YAML
execution:
- concurrency: $CONCURRENCY
  throughput: $RATE
  arrival-rate: true
  hold-for: ${HOLD}s
  scenario: predict
scenarios:
  predict:
    requests:
    - url: http://127.0.0.1:$port/predictions/squeezenet
      method: POST
      body: 'input'
      label: $LABEL
YAML
}

# Microseconds some task waited for a CPU since boot (Linux PSI), empty without PSI.
psi_total() { awk '/^some/ { sub("total=", "", $5); print $5 }' /proc/pressure/cpu 2>/dev/null || true; }

# suite_run ARTIFACTS [args...]: one `suite run` of the test; prints "exit-code cpu-pressure",
# the pressure being the share of the run's wall time in which some task waited for a CPU
# (other load on the machine; "-" without PSI).
suite_run() {
  local art="$1"; shift
  local rc=0 p0 p1 t0 t1
  p0="$(psi_total)"; t0="$(date +%s%N)"
  "$SUITE" run -t "$SCRATCH/tests" -p "$TEST.yaml" -a "$art" --no-monit "$@" >"$art.log" 2>&1 || rc=$?
  p1="$(psi_total)"; t1="$(date +%s%N)"
  if [ -n "$p0" ] && [ -n "$p1" ]; then
    echo "$rc $(awk -v a="$p0" -v b="$p1" -v w="$(( (t1 - t0) / 1000 ))" 'BEGIN { printf "%.3f", (b - a) / w }')"
  else
    echo "$rc -"
  fi
}

# run_dir ARTIFACTS: the one run folder under it.
run_dir() {
  local d
  for d in "$1"/*/; do
    [ "$(basename "$d")" = latest ] && continue
    echo "${d%/}"; return
  done
  echo ""
}

# Reads a run's summary.json: "label_p95|comparison fields" (empty fields when absent).
read_summary() {
  python3 - "$1/summary.json" "$TEST" "$LABEL" <<'PY'
import json, sys
path, test, label = sys.argv[1:4]
try:
    s = json.load(open(path))
except (OSError, ValueError):
    print("|||||||"); sys.exit(0)
p95 = ""
for t in s.get("tests", []):
    for l in t.get("labels", []):
        if l.get("label") == label and (l.get("percentiles") or {}).get("p95") is not None:
            p95 = repr(l["percentiles"]["p95"])
comps = s.get("comparisons") or []
comp = next((c for c in comps if c.get("test") == test), comps[0] if len(comps) == 1 else None)
rows = (comp or {}).get("rows") or []
row = next((r for r in rows if r.get("label") == label and r.get("metric") == "p95"), None) or {}
ci = row.get("ci") or [None, None]
regressed = ";".join(f"{r.get('label')}:{r.get('metric')}" for r in rows if r.get("verdict") == "regression")
f = lambda v: "" if v is None else repr(v)
print("|".join([p95, f(row.get("baseline")), f(row.get("candidate")), f(row.get("change")),
                f(ci[0]), f(ci[1]), row.get("verdict") or "", regressed]))
PY
}

mkdir -p "$OUT"
STAMP="$(date +%Y%m%d-%H%M%S)"
CSV="$OUT/verdicts-$STAMP.csv"
echo "trial,variant,order,work_ms,exit,flagged,label_p95,base_label_p95,p95_baseline,p95_candidate,p95_change,ci_lo,ci_hi,p95_verdict,regressed,cpu_pressure" >"$CSV"

MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)"
{
  echo "verdicts bench: $(date -u +%FT%TZ)  suite $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "machine: $(nproc) cores, ${MODEL:-unknown CPU}, $(uname -sr)"
  echo "params: TRIALS=$TRIALS BASE_RUNS=$BASE_RUNS CAND_RUNS=$CAND_RUNS HOLD=${HOLD}s RATE=${RATE}rps CONCURRENCY=$CONCURRENCY FAST_EVERY=$FAST_EVERY"
  echo "        WORKERS=$WORKERS WORK_MS=$WORK_MS WORK_CV=$WORK_CV SLOW_MS=$SLOW_MS FAST_MS=$FAST_MS DRY=$DRY"
  echo "csv: $CSV"
} | tee "$OUT/verdicts-$STAMP.txt"

for trial in $(seq "$TRIALS"); do
  tdir="$SCRATCH/t$trial"; mkdir -p "$tdir"
  start_demo "$WORK_MS"
  if [ "$DRY" = 1 ]; then
    read -r rc load <<<"$(suite_run "$tdir/base")"
  else
    read -r rc load <<<"$(suite_run "$tdir/base" --repeat "$BASE_RUNS" --save-baseline "$tdir/baseline")"
  fi
  bdir="$(run_dir "$tdir/base")"
  IFS='|' read -r base_p95 _ <<<"$(read_summary "$bdir")"
  echo "$trial,baseline,0,$WORK_MS,$rc,,$base_p95,,,,,,,,,$load" >>"$CSV"
  if [ "$rc" != 0 ] || { [ "$DRY" != 1 ] && ! compgen -G "$tdir/baseline/*.baseline.json" >/dev/null; }; then
    log "trial $trial: the baseline run failed (exit $rc), skipping the trial; see $tdir/base.log"
    [ "$rc" = 0 ] || { KEEP=1; tail -5 "$tdir/base.log" >&2 || true; }
    continue
  fi
  order=0
  variants=(unchanged slowed)
  (( trial % FAST_EVERY == 0 )) && variants+=(faster)
  for variant in $(printf '%s\n' "${variants[@]}" | shuf); do
    order=$((order + 1))
    case "$variant" in
      unchanged) work="$WORK_MS" ;;
      slowed) work="$SLOW_MS" ;;
      faster) work="$FAST_MS" ;;
    esac
    start_demo "$work"
    if [ "$DRY" = 1 ]; then
      read -r rc load <<<"$(suite_run "$tdir/$variant")"
    else
      read -r rc load <<<"$(suite_run "$tdir/$variant" --repeat "$CAND_RUNS" --baseline "$tdir/baseline")"
    fi
    IFS='|' read -r p95 cb cc ch lo hi verdict regressed <<<"$(read_summary "$(run_dir "$tdir/$variant")")"
    flagged=""
    if [ "$DRY" != 1 ]; then
      case "$rc" in 3) flagged=1 ;; 0) flagged=0 ;; *) log "trial $trial $variant: exit $rc; see $tdir/$variant.log"; KEEP=1 ;; esac
      [ -n "$ch" ] || log "trial $trial $variant: no p95 comparison row for '$LABEL' in summary.json"
    fi
    echo "$trial,$variant,$order,$work,$rc,$flagged,$p95,$base_p95,$cb,$cc,$ch,$lo,$hi,$verdict,$regressed,$load" >>"$CSV"
  done
  stop_demo
  log "trial $trial/$TRIALS done"
done

python3 - "$CSV" "$DRY" <<'PY' | tee -a "$OUT/verdicts-$STAMP.txt"
import csv, math, statistics, sys
path, dry = sys.argv[1], sys.argv[2] == "1"
rows = list(csv.DictReader(open(path)))

def wilson(k, n, z=1.959964):
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))

def beta_ppf(q, a, b):
    # Inverse of the regularized incomplete beta by bisection (no scipy here).
    def cdf(x, steps=4000):
        # Simpson's rule on the beta density; fine for the small a, b of trial counts.
        if x <= 0: return 0.0
        if x >= 1: return 1.0
        lg = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        f = lambda t: math.exp(lg + (a - 1) * math.log(t) + (b - 1) * math.log(1 - t)) if 0 < t < 1 else 0.0
        h = x / steps
        s = f(1e-12) + f(x)
        for i in range(1, steps):
            s += (4 if i % 2 else 2) * f(i * h)
        return s * h / 3
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if cdf(mid) < q: lo = mid
        else: hi = mid
    return (lo + hi) / 2

def clopper_pearson(k, n, alpha=0.05):
    # The exact interval: what "k of n" lets one say with 95 % confidence.
    if n == 0:
        return (float("nan"), float("nan"))
    lo = 0.0 if k == 0 else beta_ppf(alpha / 2, k, n - k + 1)
    hi = 1.0 if k == n else beta_ppf(1 - alpha / 2, k + 1, n - k)
    return (lo, hi)

def change(r):
    # The comparison's own change; in DRY mode (or without one) the labels' p95 ratio.
    if r["p95_change"]:
        return float(r["p95_change"])
    if r["label_p95"] and r["base_label_p95"]:
        return float(r["label_p95"]) / float(r["base_label_p95"]) - 1
    return None

base = {r["trial"]: r for r in rows if r["variant"] == "baseline"}
for r in rows:
    if r["variant"] != "baseline" and not r["base_label_p95"]:
        r["base_label_p95"] = base.get(r["trial"], {}).get("label_p95", "")

targets = {"unchanged": ("flagged <= 5 %", lambda k, n: k / n <= 0.05),
           "slowed": ("flagged >= 95 %", lambda k, n: k / n >= 0.95),
           "faster": ("exit 3 never", lambda k, n: k == 0)}
print()
print("flagged = the run exited 3 (any metric regressed); p95 flagged = the p95 row's verdict is regression")
print(f"{'variant':10} {'trials':>6} {'errors':>6} {'flagged':>7} {'rate':>6} {'95% CI (exact)':>16} {'95% CI (Wilson)':>17} "
      f"{'1-sided 95%':>11} {'p95 flagged':>11} {'median p95 chg':>14} {'p95 verdicts':<28} target")
ok = True
for v, (text, passes) in targets.items():
    rs = [r for r in rows if r["variant"] == v]
    valid = [r for r in rs if r["exit"] in ("0", "3")]
    errors = len(rs) - len(valid)
    chg = [c for c in map(change, rs) if c is not None]
    med = f"{100 * statistics.median(chg):+.1f} %" if chg else "n/a"
    verdicts = {}
    for r in rs:
        if r["p95_verdict"]:
            verdicts[r["p95_verdict"]] = verdicts.get(r["p95_verdict"], 0) + 1
    vtext = " ".join(f"{k}={n}" for k, n in sorted(verdicts.items())) or "-"
    if dry:
        print(f"{v:10} {len(rs):6} {errors:6} {'n/a':>7} {'n/a':>6} {'n/a':>16} {'n/a (DRY)':>17} {'n/a':>11} {'n/a':>11} {med:>14} {vtext:<28} {text}: not judged")
        continue
    k, n = sum(r["exit"] == "3" for r in valid), len(valid)
    lo, hi = wilson(k, n)
    clo, chi = clopper_pearson(k, n)
    # What the trials let one claim at 95 % confidence, in the target's direction (exact, one-sided).
    olo, ohi = clopper_pearson(k, n, alpha=0.10)
    bound = f"{'>=' if v == 'slowed' else '<='} {100 * (olo if v == 'slowed' else ohi):.1f} %"
    kp = sum(r["p95_verdict"] == "regression" for r in valid)
    verdict = ("PASS" if passes(k, n) else "FAIL") if n else "n/a"
    ok = ok and verdict == "PASS" and errors == 0
    rate = f"{100 * k / n:5.1f}%" if n else "n/a"
    print(f"{v:10} {n:6} {errors:6} {k:7} {rate:>6} {f'[{100*clo:.1f}, {100*chi:.1f}] %':>16} {f'[{100*lo:.1f}, {100*hi:.1f}] %':>17} "
          f"{bound:>11} {f'{kp}/{n}':>11} {med:>14} {vtext:<28} {text}: {verdict}")
press = [float(r["cpu_pressure"]) for r in rows if r["cpu_pressure"] not in ("", "-")]
if press:
    med = statistics.median(press)
    busy = sum(p > 0.2 for p in press)
    print(f"\nCPU pressure (share of a run's time some task waited for a CPU): median {med:.2f}, "
          f"{busy}/{len(press)} runs above 0.20" + ("; the machine was busy, so the noise includes other load" if busy else ""))
if not dry:
    print("\nall targets met" if ok else "\nsome targets missed (or runs failed): see the CSV")
PY
