#!/usr/bin/env bash
# Accuracy of the streamed-response figures (issue 15): suite against demo-target's SSE
# completion endpoint with a known time to the first token and a known gap between tokens.
# Prints, per configured delay, what suite recorded (time to first token avg/p50/p90/p99, the
# gaps p50/p99, tokens/s) beside what the server was told. Target: time to first token within
# 1 ms of the configured delay.
#
# Usage: bench/streaming.sh        # USERS=2 REQUESTS=50 FIRST_MS="20 50 200" GAP_MS=20 TOKENS=10
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE="${SUITE:-$ROOT/target/release/suite}"
DEMO_TARGET="${DEMO_TARGET:-$ROOT/target/release/demo-target}"
USERS="${USERS:-2}"
REQUESTS="${REQUESTS:-50}"        # per user
FIRST_MS="${FIRST_MS:-20 50 200}"
GAP_MS="${GAP_MS:-20}"
TOKENS="${TOKENS:-10}"
PORT="${PORT:-18124}"
BUILD="${BUILD:-1}"

if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p suite -p demo-target)
fi
work="$(mktemp -d)"
demo_pid=""
cleanup() { [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$DEMO_TARGET" --port "$PORT" --workers 1 >/dev/null 2>&1 &
demo_pid=$!
"$DEMO_TARGET" wait-ready "http://127.0.0.1:$PORT/ping" --timeout 15s

echo "machine: $(nproc) cores, $(uname -sr); $USERS users x $REQUESTS requests, $TOKENS tokens, ${GAP_MS} ms apart"
printf '%-10s %9s %9s %9s %9s %8s %8s %9s\n' first_ms ttft_avg ttft_p50 ttft_p90 ttft_p99 itl_p50 itl_p99 tokens/s
mkdir -p "$work/t"
for first in $FIRST_MS; do
  cat > "$work/t/stream.yaml" <<EOF
execution:
- concurrency: $USERS
  iterations: $REQUESTS
  scenario: s
scenarios:
  s:
    requests:
    - url: http://127.0.0.1:$PORT/v1/completions
      method: POST
      label: complete
      headers: {Content-Type: application/json}
      body: {model: demo, prompt: hi, max_tokens: $TOKENS, stream: true, first_token_ms: $first, token_delay_ms: $GAP_MS}
      stream: sse
      tokens-from: \$.choices[0].text
EOF
  # From the scratch folder: no global_config.yaml of the repository is merged in.
  (cd "$work" && "$SUITE" run -t t -a out >"$work/run.log" 2>&1) || { cat "$work/run.log" >&2; exit 1; }
  python3 - "$work/out/latest/summary.json" "$first" <<'PY'
import json, sys
summary, first = sys.argv[1], sys.argv[2]
label = next(l for l in json.load(open(summary))["tests"][0]["labels"] if l["label"] == "complete")
s = label["stream"]
ms = lambda v: v * 1000
t, i = s["ttft_percentiles"], s["itl_percentiles"]
print(f"{first:<10} {ms(s['ttft_avg']):9.2f} {ms(t['p50']):9.2f} {ms(t['p90']):9.2f} {ms(t['p99']):9.2f} "
      f"{ms(i['p50']):8.2f} {ms(i['p99']):8.2f} {s['tokens_per_s']:9.1f}")
PY
done
