#!/usr/bin/env bash
# Reliability and security suite: fault, bad-input and security tests
# (pytest), the hanging-collector C test natively and under valgrind
# memcheck, and a short fuzz run. Uses the library the Makefile already
# built (target/release/libofftrack.so); never builds it.
#
#   bash tests/reliability/run.sh                      # the CI run (< 12 min on 2 cores)
#   OFFTRACK_SOAK=1 bash tests/reliability/run.sh      # 200 kills, 100k flapping hits, 1M concurrent hits
#   OFFTRACK_FUZZ_SECONDS=600 bash tests/reliability/run.sh
#   bash tests/reliability/run.sh -k kill9             # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD

lib=target/release/libofftrack.so
if [[ ! -f $lib ]]; then
    echo "tests/reliability: missing $lib -- build the library first (cargo build --release, or make)" >&2
    exit 2
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q -r tests/python/requirements.txt -r tests/reliability/requirements.txt

out=build/reliability
mkdir -p "$out"
figures=$out/figures.txt
: >"$figures"
failed=()

echo "== reliability: pytest tests/reliability"
if ! OFFTRACK_FIGURES="$root/$figures" .venv/bin/python -m pytest -c tests/reliability/pytest.ini \
        tests/reliability -q "$@"; then
    failed+=("pytest")
fi

echo "== reliability: hanging collector (C)"
gcc -std=c11 -Wall -Wextra -Werror -O1 -g -I include tests/reliability/hanging_collector.c \
    -o "$out/hanging_collector" -L target/release -lofftrack "-Wl,-rpath,$root/target/release" -lpthread
hang_dir=$(mktemp -d)
trap 'rm -rf "$hang_dir"' EXIT
if "$out/hanging_collector" "$hang_dir/native" 300 | tee -a "$figures"; then :; else failed+=("hanging-collector"); fi
if command -v valgrind >/dev/null 2>&1; then
    echo "== reliability: hanging collector under valgrind memcheck"
    # Valgrind slows every instruction; the destroy bound gets more slack, the checks stay the same.
    if valgrind -q --error-exitcode=1 --leak-check=no "$out/hanging_collector" "$hang_dir/valgrind" 1500 \
        | sed 's/^FIGURE hanging_collector/FIGURE hanging_collector_valgrind/' | tee -a "$figures"; then
        :
    else
        failed+=("hanging-collector-valgrind")
    fi
else
    echo "SKIPPED: hanging collector under valgrind: valgrind not installed (apt-get install -y valgrind)" \
        | tee -a "$figures"
fi

echo "== reliability: fuzzing (${OFFTRACK_FUZZ_SECONDS:-30}s per target)"
if bash fuzz/run.sh "${OFFTRACK_FUZZ_SECONDS:-30}" | tee "$out/fuzz.txt"; then :; else failed+=("fuzz"); fi
grep -E '^fuzz: ' "$out/fuzz.txt" >>"$figures" || true

echo "== reliability: figures"
cat "$figures"
if ((${#failed[@]} > 0)); then
    echo "tests/reliability: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "tests/reliability: OK"
