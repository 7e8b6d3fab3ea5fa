#!/usr/bin/env bash
# Opens a run's report.html in headless Chromium, with every host name unresolvable so the page
# cannot fetch anything, and saves a screenshot: a check that the report renders offline with its
# charts. Look at the PNG afterwards.
#
#   bench/report-screenshot.sh [RUN_DIR] [OUT.png]
#
# Without RUN_DIR it builds the workspace (release) and runs the shipped demo suites first
# (ports 18080, 18081 and 19009 must be free). Needs Debian's chromium (installed when run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

run_dir=${1:-}
out=${2:-report-screenshot.png}
if [[ -z "$run_dir" ]]; then
  cargo build --workspace --release
  artifacts=$(mktemp -d)
  # 0 passed, 1 error, 3 a criterion failed: each leaves a report to look at.
  ./target/release/suite run --test-dir suites --pattern '*criteria*.yaml' --artifacts-dir "$artifacts" || true
  run_dir="$artifacts/latest"
fi
report="$(readlink -f "$run_dir")/report.html"
if [[ ! -f "$report" ]]; then
  echo "no report at $report" >&2
  exit 1
fi

if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "needs chromium: apt-get install --no-install-recommends chromium" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# The D-Bus complaints of headless Chromium are harmless; they go to the log, not the terminal.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --host-resolver-rules='MAP * ~NOTFOUND' \
  --user-data-dir="$profile" --window-size=1400,3000 --virtual-time-budget=5000 \
  --screenshot="$out" "file://$report" >"$profile/chromium.log" 2>&1 || {
  cat "$profile/chromium.log" >&2
  exit 1
}
echo "screenshot of $report: $out"
