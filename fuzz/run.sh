#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer on stable Rust.
#
#   bash fuzz/run.sh            # 30 s per target (the CI run)
#   bash fuzz/run.sh 600        # 600 s per target
#   FUZZ_TARGETS="hit_url" bash fuzz/run.sh 120
#   FUZZ_SANITIZER=address bash fuzz/run.sh 300   # AddressSanitizer (needs RUSTC_BOOTSTRAP)
#
# Builds the targets with the same instrumentation flags cargo-fuzz uses
# (SanitizerCoverage through -Cpasses, all stable), first replays every
# committed seed and regression input, then fuzzes. A crash leaves its input
# in fuzz/artifacts/<target>/ and fails the run; copy it to
# fuzz/regressions/<target>/ so every later run replays it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

seconds=${1:-30}
targets=(${FUZZ_TARGETS:-config_parse hit_url record_decode intake_parse})
triple=$(rustc -vV | sed -n 's/^host: //p')

flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
flags+=" -Cllvm-args=-sanitizer-coverage-pc-table"
flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares"
flags+=" --cfg fuzzing -Cdebug-assertions -Coverflow-checks -Cforce-frame-pointers"
target_dir=target
if [[ ${FUZZ_SANITIZER:-none} == address ]]; then
    flags+=" -Zsanitizer=address"
    export RUSTC_BOOTSTRAP=1
    target_dir=target-asan
fi

echo "== fuzz: building ${targets[*]} (${triple}, sanitizer ${FUZZ_SANITIZER:-none})"
# --target keeps the instrumentation away from build scripts and proc macros.
RUSTFLAGS="$flags" cargo build --profile fuzz --locked --quiet --target "$triple" \
    --target-dir "$target_dir" $(printf -- '--bin %s ' "${targets[@]}")

bin_dir=$target_dir/$triple/fuzz
mkdir -p logs
total_execs=0
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t" "regressions/$t"
    shopt -s nullglob
    replay=(seeds/"$t"/* regressions/"$t"/*)
    shopt -u nullglob
    if ((${#replay[@]} > 0)); then
        echo "== fuzz: $t: replaying ${#replay[@]} seed/regression inputs"
        if ! "$bin_dir/$t" -runs=1 "${replay[@]}" >"logs/$t.replay.log" 2>&1; then
            echo "fuzz: $t FAILED on a committed input; see fuzz/logs/$t.replay.log" >&2
            tail -n 30 "logs/$t.replay.log" >&2
            status=1
            continue
        fi
    fi
    # Inputs that reproduce open library bugs must still fail in strict mode
    # (like a strict xfail); once one passes, the bug is fixed: move it to
    # regressions/ and drop the tolerance in the target.
    shopt -s nullglob
    known=(known-bugs/"$t"/*)
    shopt -u nullglob
    for k in "${known[@]}"; do
        if OFFTRACK_FUZZ_STRICT=1 "$bin_dir/$t" -runs=1 "$k" >"logs/$t.known.log" 2>&1; then
            echo "fuzz: $t: $k no longer fails: the library bug is fixed; move it to fuzz/regressions/$t/" >&2
            status=1
        else
            echo "fuzz: $t: KNOWN LIBRARY BUG still reproduces: $k"
        fi
    done
    echo "== fuzz: $t for ${seconds}s"
    if "$bin_dir/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
        "corpus/$t" "seeds/$t" >"logs/$t.log" 2>&1; then
        :
    else
        echo "fuzz: $t FOUND A CRASH; input in fuzz/artifacts/$t/, log fuzz/logs/$t.log" >&2
        grep -E -m 20 "panicked|ERROR|SUMMARY|Test unit written" "logs/$t.log" >&2 || true
        status=1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -n 1)
    cov=$(grep -Eo 'cov: [0-9]+' "logs/$t.log" | tail -n 1 || true)
    corpus=$(find "corpus/$t" -type f | wc -l)
    echo "fuzz: $t: ${execs:-0} execs in ${seconds}s, ${cov:-cov: ?}, corpus ${corpus} inputs"
    total_execs=$((total_execs + ${execs:-0}))
done
echo "fuzz: total ${total_execs} execs"
exit $status
