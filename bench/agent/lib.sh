# Shared by the agent benchmark scripts (sourced, not run): paths, a scratch folder, background
# processes that are stopped on exit, and waiting for a line in a log.
# Callers set `here` to their own folder before sourcing.

root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Waits until FILE has a line matching REGEX and prints that line.
wait_line() {
    local file=$1 regex=$2
    for _ in $(seq 1 200); do
        if grep -qE "$regex" "$file" 2>/dev/null; then grep -E "$regex" "$file" | head -1; return 0; fi
        sleep 0.1
    done
    echo "timed out waiting for '$regex' in $file" >&2
    cat "$file" >&2
    return 1
}
