#!/usr/bin/env bash
# JMeter plans run natively: the same load as a .jmx plan and as the equivalent YAML scenario, in
# this one run, against the same nginx (bench/engine/common.sh: nginx on core 0, each client
# alone on core 1 under /usr/bin/time). Prints requests per client CPU-second for both and their
# ratio (jmx / yaml), then how long `suite validate` takes on the largest corpus plan next to a
# one-request YAML (the issue's target: a plan loads in < 50 ms).
# Usage: bench/jmx/throughput.sh        # DURATION=15 CONNS=50 ROUNDS=1 [CORPUS=../shared/corpus]
. "$(dirname "$0")/../engine/common.sh"
DURATION="${DURATION:-15}"
CONNS="${CONNS:-50}"
ROUNDS="${ROUNDS:-1}"
CORPUS="${CORPUS:-$ROOT/../shared/corpus}"
ensure_tools
trap stop_nginx EXIT
start_nginx
curl -s "$URL" >/dev/null

# The YAML scenario: CONNS users, one GET each iteration.
write_suite "$SCRATCH/yaml" throughput <<YAML
execution:
- concurrency: $CONNS
  hold-for: ${DURATION}s
  scenario: tp
scenarios:
  tp:
    requests:
    - url: $URL
      label: tp
YAML

# The same as a JMeter plan: HTTP Request Defaults from properties, one thread group looping
# forever, one sampler; the execution's concurrency and hold-for rebuild the thread group
# (Taurus's rules), exactly as the YAML scenario's.
write_suite "$SCRATCH/jmx" throughput <<YAML
execution:
- concurrency: $CONNS
  hold-for: ${DURATION}s
  scenario: tp
scenarios:
  tp:
    script: throughput.jmx
modules:
  jmeter:
    properties:
      hostname: 127.0.0.1
      port: $PORT
YAML
cat > "$SCRATCH/jmx/throughput.jmx" <<'JMX'
<?xml version="1.0" encoding="UTF-8"?>
<jmeterTestPlan version="1.2" properties="5.0" jmeter="5.6.3">
  <hashTree>
    <TestPlan guiclass="TestPlanGui" testclass="TestPlan" testname="throughput" enabled="true"/>
    <hashTree>
      <ConfigTestElement guiclass="HttpDefaultsGui" testclass="ConfigTestElement" testname="Defaults" enabled="true">
        <stringProp name="HTTPSampler.domain">${__P(hostname)}</stringProp>
        <stringProp name="HTTPSampler.port">${__P(port)}</stringProp>
        <stringProp name="HTTPSampler.protocol">http</stringProp>
      </ConfigTestElement>
      <hashTree/>
      <ThreadGroup guiclass="ThreadGroupGui" testclass="ThreadGroup" testname="users" enabled="true">
        <stringProp name="ThreadGroup.on_sample_error">continue</stringProp>
        <elementProp name="ThreadGroup.main_controller" elementType="LoopController" testclass="LoopController">
          <boolProp name="LoopController.continue_forever">false</boolProp>
          <intProp name="LoopController.loops">-1</intProp>
        </elementProp>
        <stringProp name="ThreadGroup.num_threads">1</stringProp>
        <stringProp name="ThreadGroup.ramp_time">0</stringProp>
      </ThreadGroup>
      <hashTree>
        <HTTPSamplerProxy guiclass="HttpTestSampleGui" testclass="HTTPSamplerProxy" testname="tp" enabled="true">
          <stringProp name="HTTPSampler.path">/</stringProp>
          <stringProp name="HTTPSampler.method">GET</stringProp>
          <boolProp name="HTTPSampler.use_keepalive">true</boolProp>
        </HTTPSamplerProxy>
        <hashTree/>
      </hashTree>
    </hashTree>
  </hashTree>
</jmeterTestPlan>
JMX

# suite on one of the two folders; prints its row and leaves requests-per-CPU-s in $rate.
one() { # KIND ROUND
  local kind="$1" r="$2" dir="$SCRATCH/$1"
  rm -rf "$dir/reports"
  (cd "$dir" && timed "$SCRATCH/$kind.time" "$SUITE" run -t . -a "$dir/reports" --no-monit > "$SCRATCH/$kind.out" 2>&1)
  n=$(python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(d['tests'][0]['requests_sent'])" "$dir/reports/latest/summary.json")
  c=$(cpu_of "$SCRATCH/$kind.time"); w=$(awk '{print $4}' "$SCRATCH/$kind.time")
  rate=$(echo "$n/$c" | bc -l)
  printf '%-6s %-5s %10s %8s %8s %10.0f %14.0f %9s\n' "$kind" "$r" "$n" "$w" "$c" "$(echo "$n/$DURATION" | bc -l)" "$rate" "$(maxrss_mb_of "$SCRATCH/$kind.time")"
}

printf '%-6s %-5s %10s %8s %8s %10s %14s %9s\n' plan round requests wall_s cpu_s rps req_per_cpu_s maxrss_MB
sum_j=0; sum_y=0
for r in $(seq "$ROUNDS"); do
  one yaml "$r"; sum_y=$(echo "$sum_y+$rate" | bc -l); sleep 1
  one jmx "$r"; sum_j=$(echo "$sum_j+$rate" | bc -l); sleep 1
done
printf 'jmx / yaml requests per CPU-s over %s round(s): %.3f\n' "$ROUNDS" "$(echo "$sum_j/$sum_y" | bc -l)"

# Loading the largest corpus plan: `suite validate` (process start, YAML, the plan read, lowered
# and checked) on a scenario naming it, against the same on a one-request YAML; median of 10.
if [ -d "$CORPUS" ]; then
  largest=$(find "$CORPUS" -name '*.jmx' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
  mkdir -p "$SCRATCH/load"
  printf 'not really a kitten\n' > "$SCRATCH/load/input.bin"
  # A property the plan reads without a default must be set (in the corpus: upload files).
  {
    printf 'scenarios:\n  big:\n    script: %s\nexecution:\n- scenario: big\n  concurrency: 1\n  iterations: 1\n' "$largest"
    names=$(grep -o '__P([A-Za-z0-9_.]*)' "$largest" | sed 's/__P(\(.*\))/\1/' | sort -u)
    if [ -n "$names" ]; then
      printf 'modules:\n  jmeter:\n    properties:\n'
      for name in $names; do printf '      %s: %s\n' "$name" "$SCRATCH/load/input.bin"; done
    fi
  } > "$SCRATCH/load/big.yaml"
  printf 'scenarios:\n  small:\n    requests: [%s]\nexecution:\n- scenario: small\n  concurrency: 1\n  iterations: 1\n' "$URL" > "$SCRATCH/load/small.yaml"
  median_ms() { # FILE: median wall time of 10 `suite validate` runs, in ms
    for _ in $(seq 10); do
      s=$(date +%s%N); (cd "$SCRATCH/load" && "$SUITE" validate "$1" > /dev/null 2>&1)
      e=$(date +%s%N); echo $(( (e - s) / 1000 ))
    done | sort -n | awk '{a[NR]=$1} END {printf "%.1f", (a[5]+a[6])/2/1000}'
  }
  for f in big.yaml small.yaml; do
    (cd "$SCRATCH/load" && "$SUITE" validate "$f" > "$SCRATCH/load/out" 2>&1) || { cat "$SCRATCH/load/out" >&2; exit 1; }
  done
  printf 'suite validate, median of 10: largest plan %s (%s bytes) %s ms; one-request YAML %s ms\n' \
    "${largest#"$CORPUS"/}" "$(stat -c %s "$largest")" "$(median_ms big.yaml)" "$(median_ms small.yaml)"
fi
log "raw outputs in $SCRATCH"
