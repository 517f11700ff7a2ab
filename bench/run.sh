#!/usr/bin/env bash
# Benchmarks of offtrack against an SQLite FIFO queue, release builds.
#   bash bench/run.sh           default sizes (10k and 100k queued hits)
#   BENCH_FULL=1 bash bench/run.sh   adds 1M queued hits (takes longer)
#   bash bench/run.sh --smoke   seconds; keeps the harness from rotting in CI
#   BENCH_ONLY=network bash bench/run.sh   drains over a link and the
#     many-devices simulation only (sections 10 and 11, ≈1 min once built)
#   BENCH_ONLY=latency bash bench/run.sh   send latency only (1, 1b, 9)
# BENCH_NOTLS=0 skips the extra HTTP-only library build (size only).
set -euo pipefail
cd "$(dirname "$0")"
mode=""
[ "${1:-}" = "--smoke" ] && mode="--smoke"

# The library whose size is measured (7), built as the project ships it,
# and the bench, a member of the same workspace (same profile and patches).
(cd .. && cargo build --release)
cargo build --release

notls_lib=""
# Only the size line (7) uses it, which BENCH_ONLY runs leave out.
if [ -z "$mode" ] && [ "${BENCH_NOTLS:-1}" = "1" ] && [ -z "${BENCH_ONLY:-}" ]; then
  # No feature flag turns built-in TLS off, so build a scratch copy with
  # minreq's TLS features removed (and the one match arm that needs them).
  src=target/notls-src
  rm -rf "$src" && mkdir -p "$src/include"
  cp ../Cargo.toml ../Cargo.lock ../build.rs ../cbindgen.toml "$src/"
  cp -r ../src ../vendor "$src/"
  sed -i -E 's/^minreq = \{ version = "3", features = \[[^]]*\] \}/minreq = { version = "3" }/' "$src/Cargo.toml"
  sed -i '/RustlsCreateConnection/d' "$src/src/net/http.rs"
  # A workspace of its own: the library's members (bench, fuzz) are not copied.
  sed -i '/^\[workspace\]$/,/^default-members/d' "$src/Cargo.toml"
  printf '\n[workspace]\n' >>"$src/Cargo.toml"
  # If the dependency lines change shape the sed matches nothing and the
  # "HTTP only" figure would silently include TLS: skip it instead.
  if grep -q 'https-' "$src/Cargo.toml"; then
    echo "HTTP-only build skipped: bench/run.sh no longer strips minreq's TLS features from Cargo.toml"
  elif CARGO_TARGET_DIR="$PWD/target/notls-target" cargo build --release --lib \
       --manifest-path "$src/Cargo.toml" >target/notls-build.log 2>&1; then
    notls_lib="$PWD/target/notls-target/release/libofftrack.so"
  else
    echo "HTTP-only build failed (see bench/target/notls-build.log); its size is skipped"
  fi
fi

# bench/target holds the run's scratch files and its table (cargo builds
# into the workspace's target/).
mkdir -p target
work="$PWD/target/work"
BENCH_DIR="$work" BENCH_NOTLS_LIB="$notls_lib" \
  ../target/release/offtrack-bench run $mode --lib-dir ../target/release | tee target/last-run.txt
