#!/usr/bin/env bash
# Taurus compatibility, end to end: a stand-in model server (frontend + 3 workers), monitoring-agent on a free
# loopback port, `python3 -m http.server` on another, then bzt 1.17.2 running taurus-compat.yml with a
# `server-agent` monitoring client; prints the SAlogs CSV Taurus wrote and checks its values.
#
#   bench/agent/taurus-compat.sh        # VENV=/tmp/bztvenv (created with bzt==1.17.2 if missing)
#
# The apiritif executor pip-installs apiritif into ~/.bzt/python-packages on first use (needs PyPI).
set -euo pipefail

VENV=${VENV:-/tmp/bztvenv}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

cargo build --quiet --release -p monitoring-agent --manifest-path "$root/Cargo.toml"
if [ ! -x "$VENV/bin/bzt" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet bzt==1.17.2
fi
echo "bzt: $("$VENV/bin/pip" show bzt 2>/dev/null | sed -n 's/^Version: //p')"

python3 "$here/tree.py" --workers 3 --pid-file "$work/model_server.pid" > "$work/tree.out" &
pids+=($!)
wait_line "$work/tree.out" '^ready' > /dev/null

"$root/target/release/monitoring-agent" --bind 127.0.0.1:0 --frontend-pid-file "$work/model_server.pid" \
    --worker-match model_service_worker.py > "$work/agent.out" 2> "$work/agent.err" &
pids+=($!)
agent_addr=$(wait_line "$work/agent.out" 'listening on' | awk '{print $NF}')

mkdir -p "$work/www"
echo ok > "$work/www/index.html"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work/www" > "$work/http.out" 2>&1 &
pids+=($!)
http_port=$(wait_line "$work/http.out" 'Serving HTTP' | sed -E 's/.* port ([0-9]+).*/\1/')
echo "agent on $agent_addr, http server on 127.0.0.1:$http_port"

(
    cd "$work"
    sed -e "s/127.0.0.1:9009/$agent_addr/" -e "s/127.0.0.1:8000/127.0.0.1:$http_port/" \
        "$here/taurus-compat.yml" > taurus-compat.yml
    "$VENV/bin/bzt" taurus-compat.yml -o settings.artifacts-dir="$work/artifacts" \
        -o modules.console.disable=true > "$work/bzt.log" 2>&1
) || { echo "bzt failed:"; tail -30 "$work/bzt.log"; exit 1; }

csv=$(ls "$work"/artifacts/SAlogs_*.csv)
echo "== $(basename "$csv")"
cat "$csv"
echo "== agent log"
cat "$work/agent.err"
echo "== check"
python3 - "$csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
header, data = rows[0], rows[1:]
requested = ["cpu", "mem", "total_workers", "sum_workers_memory_rss"]
assert header == ["ts"] + sorted(requested), header  # Taurus sorts the header...
assert len(data) >= 5, f"only {len(data)} rows"
for row in data:
    v = dict(zip(requested, map(float, row[1:])))  # ...but writes values in request order.
    assert 0 <= v["cpu"] <= 100, row
    assert 0 < v["mem"] <= 100, row
    assert v["total_workers"] == 3, row
    assert v["sum_workers_memory_rss"] > 3 * 1024 * 1024, row
print(f"ok: {len(data)} rows; values in request order {requested} are sane")
PY
