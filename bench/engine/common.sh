# Shared helpers for the load-engine benchmarks. Source it: `. bench/engine/common.sh`.
# Loopback only. Server on core 0 (SERVER_CPU), load generator on core 1 (CLIENT_CPU).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SUITE="${SUITE:-$ROOT/target/release/suite}"
DEMO_TARGET="${DEMO_TARGET:-$ROOT/target/release/demo-target}"
SCRATCH="${SCRATCH:-$(mktemp -d /tmp/engine-bench.XXXXXX)}"
mkdir -p "$SCRATCH"
PORT="${PORT:-18180}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
URL="http://127.0.0.1:$PORT/"
CLK_TCK="$(getconf CLK_TCK)"

log() { echo "[$(date +%T)] $*" >&2; }

# nginx and wrk from Debian; oha from crates.io only when already built or asked for (the build takes ~10 min on 2 cores).
ensure_tools() {
  if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    apt-get update && apt-get install -y nginx wrk
  fi
  OHA="${OHA:-$(command -v oha || true)}"
  if [ -z "$OHA" ] && [ -x /tmp/oha-root/bin/oha ]; then OHA=/tmp/oha-root/bin/oha; fi
  if [ -z "$OHA" ] && [ "${INSTALL_OHA:-0}" = 1 ]; then
    cargo install oha --locked --root "$SCRATCH/oha-root" && OHA="$SCRATCH/oha-root/bin/oha"
  fi
  if [ ! -x "$SUITE" ]; then (cd "$ROOT" && cargo build --release --workspace); fi
}

# Minimal nginx: one worker pinned to SERVER_CPU, 12-byte static body, no access log
# (ACCESS_LOG=1 logs `$msec` per request to $SCRATCH/nginx/access.log, for the start-up test).
start_nginx() {
  local d="$SCRATCH/nginx"
  mkdir -p "$d/html" "$d/logs"
  # mktemp -d makes a 0700 folder; nginx's worker (www-data) must reach the page.
  chmod o+rx "$SCRATCH" "$d" "$d/html"
  printf 'hello world\n' > "$d/html/index.html"
  local alog="access_log off;"
  if [ "${ACCESS_LOG:-0}" = 1 ]; then
    alog="log_format t '\$msec \$request'; access_log $d/logs/access.log t;"
  fi
  cat > "$d/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 65536; }
http {
  $alog
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $d/tmp; proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;
  uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
  server {
    listen 127.0.0.1:$PORT reuseport backlog=65535;
    root $d/html;
    location / { index index.html; }
  }
}
CONF
  mkdir -p "$d/tmp"
  ulimit -n 65536 2>/dev/null || true
  taskset -c "$SERVER_CPU" nginx -c "$d/nginx.conf" -p "$d/"
  for _ in $(seq 50); do curl -fs "$URL" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "$URL" >/dev/null
  # pin the master and the worker (children inherit, but be explicit)
  local m; m="$(cat "$d/nginx.pid")"
  for p in $m $(pgrep -P "$m"); do taskset -pc "$SERVER_CPU" "$p" >/dev/null; done
  log "nginx on $URL (pid $m), core $SERVER_CPU"
}

stop_nginx() {
  local f="$SCRATCH/nginx/nginx.pid"
  [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  sleep 0.3
}

# utime+stime of a finished child, in seconds, from GNU time's -f output file.
# Usage: timed OUTFILE cmd...  (runs `cmd` pinned to CLIENT_CPU under /usr/bin/time)
timed() {
  local out="$1"; shift
  /usr/bin/time -f '%U %S %M %e' -o "$out" taskset -c "$CLIENT_CPU" "$@"
}
cpu_of() { awk '{printf "%.2f", $1+$2}' "$1"; }
maxrss_mb_of() { awk '{printf "%.1f", $3/1024}' "$1"; }

# A suite test folder with one YAML; run it from that folder so no global config is merged.
# Usage: write_suite DIR NAME <<YAML
write_suite() { mkdir -p "$1"; cat > "$1/$2.yaml"; }
run_suite() { # DIR [extra args]; prints the run folder
  local dir="$1"; shift
  (cd "$dir" && "$SUITE" run --test-dir . --artifacts-dir "$dir/reports" --no-monit "$@")
}
