#!/usr/bin/env bash
# Offtrack demo: hits made while the collector is down are stored on disk and
# delivered in order, with their original timestamps, once it is back.
# Needs the library built (`make demo` runs `cargo build --release` first),
# gcc and python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

for f in target/release/libofftrack.so include/offtrack.h; do
    if [[ ! -f $f ]]; then
        echo "demo: missing $f -- run 'cargo build --release' (or 'make demo') first" >&2
        exit 2
    fi
done
for tool in gcc python3; do
    command -v "$tool" >/dev/null || { echo "demo: $tool not found" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/offtrack-demo.XXXXXX")
demo_pid=""
collector_pid=""
cleanup() {
    local pid
    for pid in "$collector_pid" "$demo_pid"; do
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p build/demo
gcc -std=c99 -Wall -Wextra -O2 -I include demo/demo.c -o build/demo/demo \
    -L target/release -lofftrack "-Wl,-rpath,$root/target/release" -lpthread -ldl -lm

# A port that was free a moment ago: nothing listens on it until step 4.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# Waits (bounded) for a file to appear while a process is alive.
wait_for() {
    local file=$1 pid=$2 what=$3 i
    for ((i = 0; i < 300; i++)); do
        [[ -e $file ]] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "demo: $what did not happen" >&2
    return 1
}

build/demo/demo "$port" "$work/store" "$work/demo.ready" "$work/go" "$work/sent.txt" &
demo_pid=$!

# The demo has stored its hits: bring the collector up, then let it dispatch.
status=0
if wait_for "$work/demo.ready" "$demo_pid" "storing the hits"; then
    python3 demo/collector.py serve --port "$port" --log "$work/hits.jsonl" \
        --ready "$work/collector.ready" &
    collector_pid=$!
    if wait_for "$work/collector.ready" "$collector_pid" "starting the collector"; then
        : >"$work/go"
    fi
fi
wait "$demo_pid" || status=$?
demo_pid=""

echo
echo "7. What the collector received"
report_status=0
python3 demo/collector.py report "$work/hits.jsonl" --sent "$work/sent.txt" || report_status=$?

echo
if ((status == 0 && report_status == 0)); then
    echo "Demo OK: every hit made offline was stored, then delivered once, in order, with the time it was made."
else
    echo "Demo FAILED (demo exit $status, report exit $report_status)" >&2
    exit 1
fi
