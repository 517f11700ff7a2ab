#!/usr/bin/env bash
# The C++ wrapper suite: builds tests/cpp/test_offtrack.cpp (the wrapper) and
# tests/cpp/test_transport.cpp (its host transport) against the library that
# `cargo build --release` produced (it does not build the library) and runs
# each plain and under AddressSanitizer + UndefinedBehaviorSanitizer, then
# the header coverage check and the Unreal plugin checks. Everything is built
# into build/cpp/. The last line is "N passed, M failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD

lib=target/release/libofftrack.so
for f in "$lib" include/offtrack.h include/offtrack.hpp; do
    if [[ ! -f $f ]]; then
        echo "tests/cpp: missing $f -- build the library first (cargo build --release, or make)" >&2
        exit 2
    fi
done

out=build/cpp
mkdir -p "$out"
cxxflags=(-std=c++17 -Wall -Wextra -Werror -pedantic -I include)
ldflags=(-L target/release -lofftrack "-Wl,-rpath,$root/target/release" -lpthread -ldl -lm)
# Stricter warnings for the header alone: engine toolchains (Unreal's among
# them) enable some of these, and a header must not break their builds.
strict=(-Wshadow -Wundef -Wnon-virtual-dtor -Wold-style-cast -Wcast-qual -Wconversion
    -Wsign-conversion -Wzero-as-null-pointer-constant -Wextra-semi)
sanitize=(-g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)

passed=0
failed=0

# Adds a step's "N passed, M failed" line to the totals. A step that fails
# without such a line (crash, sanitizer abort, compile error) counts as one failure.
tally() {
    local log=$1 status=$2 line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
    if [[ -n $line ]]; then
        p=${line%% passed*}
        f=${line#*, }
        f=${f%% failed}
        passed=$((passed + p))
        failed=$((failed + f))
        if ((status != 0 && f == 0)); then failed=$((failed + 1)); fi
    elif ((status == 0)); then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
}

# run NAME COMMAND...: runs a step, echoing its output, and tallies it.
run() {
    local name=$1 log status=0
    shift
    log=$out/$name.log
    echo "== $name"
    "$@" >"$log" 2>&1 || status=$?
    cat "$log"
    tally "$log" "$status"
    if ((status != 0)); then echo "tests/cpp: $name FAILED (exit status $status)" >&2; fi
}

run strict-header g++ "${cxxflags[@]}" "${strict[@]}" -fsyntax-only -x c++ - <<'EOF'
#include "offtrack.hpp"
int main() { return static_cast<int>(offtrack::AnalyticsMapper().event("x").size()); }
EOF

# Each program: built plain and under AddressSanitizer + UndefinedBehaviorSanitizer, run both ways.
for program in test_offtrack test_transport; do
    run "build-plain-$program" g++ "${cxxflags[@]}" -O1 "tests/cpp/$program.cpp" -o "$out/$program" "${ldflags[@]}"
    if [[ -x $out/$program ]]; then
        run "test-plain-$program" "$out/$program"
    fi

    run "build-sanitized-$program" g++ "${cxxflags[@]}" "${sanitize[@]}" "tests/cpp/$program.cpp" \
        -o "$out/${program}_sanitized" "${ldflags[@]}"
    if [[ -x $out/${program}_sanitized ]]; then
        # LeakSanitizer stays on: the library frees what it allocates through the
        # same malloc ASan intercepts, and a leak in the wrapper must fail here.
        # Some containers forbid the ptrace LeakSanitizer needs; only then is the
        # run repeated without leak checking (everything else still checked).
        leaks=1
        if ASAN_OPTIONS=detect_leaks=1 "$out/${program}_sanitized" --probe 2>&1 |
            grep -q 'LeakSanitizer has encountered a fatal error\|LeakSanitizer does not work under ptrace'; then
            echo "tests/cpp: LeakSanitizer cannot run here; sanitized run without leak checks" >&2
            leaks=0
        fi
        ASAN_OPTIONS=detect_leaks=$leaks:strict_string_checks=1:detect_stack_use_after_return=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            run "test-sanitized-$program" "$out/${program}_sanitized"
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$out/test-sanitized-$program.log"; then
            echo "tests/cpp: sanitizer report in test-sanitized-$program" >&2
            failed=$((failed + 1))
        fi
    fi
done

run coverage python3 tests/cpp/check_coverage.py
run unreal-plugin python3 tests/cpp/check_unreal.py

echo "$passed passed, $failed failed"
((failed == 0))
