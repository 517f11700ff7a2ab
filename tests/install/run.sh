#!/usr/bin/env bash
# `make install` as a C or C++ user meets it: installs into a staged prefix
# (DESTDIR, then the tree is used from where it landed, which also proves it
# relocatable), checks the exact layout, then builds a C and a C++17
# consumer with CMake (find_package) and with pkg-config, each shared and
# static (8 programs), and runs them against a collector on 127.0.0.1: every
# program's own hit must arrive exactly once. Shared programs must load the
# installed libofftrack.so, static ones must not need it at all.
# Needs the host library built (make build); cmake and pkg-config, else SKIPPED.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
started=$SECONDS

missing=()
for tool in cmake pkg-config gcc g++ python3 readelf ldd; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "SKIPPED: install consumer tests: missing ${missing[*]} (apt-get install -y cmake pkg-config)"
    exit 0
fi
for f in target/release/libofftrack.so target/release/libofftrack.a; do
    [[ -f $f ]] || { echo "tests/install: missing $f -- build the library first (make build)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/offtrack-install.XXXXXX")
collector_pid=""
cleanup() {
    if [[ -n $collector_pid ]] && kill -0 "$collector_pid" 2>/dev/null; then
        kill "$collector_pid" 2>/dev/null || true
        wait "$collector_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "tests/install: FAILED: $*" >&2; exit 1; }

# listing DIR: "mode path" of every file and directory under DIR, sorted.
listing() { (cd "$1" && find . -mindepth 1 -printf '%m %P\n' | LC_ALL=C sort); }
# files DIR: "mode path" of every file, sorted: the layout files' format.
files() { (cd "$1" && find . -type f -printf '%m %P\n' | LC_ALL=C sort); }

echo "== make install (DESTDIR staging, and a direct prefix) (at $((SECONDS - started)) s)"
make -s install DESTDIR="$work/stage" PREFIX=/opt/offtrack >/dev/null
make -s install PREFIX="$work/direct" >/dev/null
prefix=$work/stage/opt/offtrack
diff -r "$prefix" "$work/direct" || fail "DESTDIR and PREFIX installs differ"
diff <(listing "$prefix") <(listing "$work/direct") || fail "DESTDIR and PREFIX installs differ in modes"
# The exact layout: nothing missing, nothing extra, no path of the build in it.
diff -u tests/install/layout/x86_64-unknown-linux-gnu.txt <(files "$prefix") ||
    fail "installed files differ from tests/install/layout/x86_64-unknown-linux-gnu.txt"
if grep -rlF -e "$work" -e "$root" "$prefix/lib/pkgconfig" "$prefix/lib/cmake"; then
    fail "an absolute path was written into the files above"
fi

echo "== collector on 127.0.0.1 (at $((SECONDS - started)) s)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 demo/collector.py serve --port "$port" --log "$work/hits.jsonl" --ready "$work/collector.ready" \
    >"$work/collector.out" 2>&1 &
collector_pid=$!
for ((i = 0; i < 200; i++)); do
    [[ -e $work/collector.ready ]] && break
    kill -0 "$collector_pid" 2>/dev/null || { cat "$work/collector.out" >&2; fail "the collector did not start"; }
    sleep 0.05
done
[[ -e $work/collector.ready ]] || fail "the collector did not start"
endpoint=http://127.0.0.1:$port/hit

bin=$work/bin
mkdir -p "$bin"
programs=()

echo "== CMake: find_package(offtrack CONFIG), shared and static (-DOFFTRACK_STATIC=ON) (at $((SECONDS - started)) s)"
for linkage in shared static; do
    static=OFF
    [[ $linkage == static ]] && static=ON
    cmake -S tests/install -B "$work/cmake-$linkage" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix" -DOFFTRACK_STATIC=$static >"$work/cmake-$linkage.log" 2>&1 ||
        { cat "$work/cmake-$linkage.log" >&2; fail "cmake configure ($linkage)"; }
    cmake --build "$work/cmake-$linkage" -j 2 >>"$work/cmake-$linkage.log" 2>&1 ||
        { cat "$work/cmake-$linkage.log" >&2; fail "cmake build ($linkage)"; }
    cp "$work/cmake-$linkage/consumer_c" "$bin/c-cmake-$linkage"
    cp "$work/cmake-$linkage/consumer_cpp" "$bin/cpp-cmake-$linkage"
    programs+=("c-cmake-$linkage" "cpp-cmake-$linkage")
done
# The build tree's programs carry CMake's RPATH to the installed library;
# the copies keep it (an absolute path), so they run from $bin as well.

echo "== pkg-config: offtrack (shared), offtrack-static --static (at $((SECONDS - started)) s)"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
pkg-config --exists offtrack offtrack-static || fail "pkg-config does not find offtrack in $PKG_CONFIG_PATH"
version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[[ $(pkg-config --modversion offtrack) == "$version" ]] || fail "offtrack.pc's version is not $version"
libdir=$(pkg-config --variable=libdir offtrack)
read -ra shared_flags <<<"$(pkg-config --cflags --libs offtrack)"
read -ra static_flags <<<"$(pkg-config --static --cflags --libs offtrack-static)"
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -O2)
cxxflags=(-std=c++17 -Wall -Wextra -Werror -pedantic -O2)
gcc "${cflags[@]}" tests/install/consumer.c -o "$bin/c-pkgconfig-shared" "${shared_flags[@]}" "-Wl,-rpath,$libdir"
g++ "${cxxflags[@]}" tests/install/consumer.cpp -o "$bin/cpp-pkgconfig-shared" "${shared_flags[@]}" "-Wl,-rpath,$libdir"
gcc "${cflags[@]}" tests/install/consumer.c -o "$bin/c-pkgconfig-static" "${static_flags[@]}"
g++ "${cxxflags[@]}" tests/install/consumer.cpp -o "$bin/cpp-pkgconfig-static" "${static_flags[@]}"
programs+=(c-pkgconfig-shared cpp-pkgconfig-shared c-pkgconfig-static cpp-pkgconfig-static)

echo "== each program links the installed library as it should (at $((SECONDS - started)) s)"
installed_so=$(realpath "$prefix/lib/libofftrack.so")
for p in "${programs[@]}"; do
    needed=$(readelf -d "$bin/$p" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    case $p in
        *-shared)
            grep -qx libofftrack.so <<<"$needed" || fail "$p does not need libofftrack.so"
            # ldd resolves it as the loader will, with no LD_LIBRARY_PATH.
            loaded=$(env -u LD_LIBRARY_PATH ldd "$bin/$p" | sed -n 's/^\s*libofftrack\.so => \(\S*\) .*/\1/p')
            [[ -n $loaded && $(realpath "$loaded") == "$installed_so" ]] ||
                fail "$p loads libofftrack.so from '${loaded:-nowhere}', not from $installed_so"
            echo "$p: libofftrack.so from $installed_so"
            ;;
        *-static)
            if grep -q offtrack <<<"$needed"; then fail "$p (static) needs $(grep offtrack <<<"$needed")"; fi
            echo "$p: no libofftrack.so needed ($(tr '\n' ' ' <<<"$needed"))"
            ;;
    esac
done

echo "== run them against the collector (at $((SECONDS - started)) s)"
run_id=$$-$RANDOM
for p in "${programs[@]}"; do
    env -u LD_LIBRARY_PATH "$bin/$p" "$endpoint" "$p-$run_id" || fail "$p exited with status $?"
done

# Each program's tag exactly once, and nothing else.
python3 - "$work/hits.jsonl" "$run_id" "${programs[@]}" <<'EOF' || fail "the collector did not get exactly the programs' hits"
import json, sys
log, run_id, programs = sys.argv[1], sys.argv[2], sys.argv[3:]
got = []
with open(log, encoding="utf-8") as f:
    for line in f:
        got += [v for k, v in json.loads(line)["params"] if k == "consumer"]
want = sorted(f"{p}-{run_id}" for p in programs)
if sorted(got) != want:
    print(f"collector got {sorted(got)}\nexpected     {want}", file=sys.stderr)
    sys.exit(1)
print(f"collector: {len(got)} hits, one from each program")
EOF

echo "tests/install: ${#programs[@]} passed, 0 failed ($((SECONDS - started)) s)"
