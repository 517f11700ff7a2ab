#!/usr/bin/env bash
# Builds and runs the C API test and the C++ header check against the library
# that `cargo build --release` produced. It does not build the library itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD

lib=target/release/libofftrack.so
header=include/offtrack.h
missing=0
for f in "$lib" "$header"; do
    if [[ ! -f $f ]]; then
        echo "tests/c: missing $f -- build the library first (cargo build --release, or make)" >&2
        missing=1
    fi
done
((missing == 0)) || exit 2

out=build/c
mkdir -p "$out"

cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -I include)
cxxflags=(-std=c++17 -Wall -Wextra -Werror -pedantic -I include)
ldflags=(-L target/release -lofftrack "-Wl,-rpath,$root/target/release" -lpthread -ldl -lm)

echo "== compile tests/c/test_offtrack.c (C99)"
gcc "${cflags[@]}" tests/c/test_offtrack.c -o "$out/test_offtrack" "${ldflags[@]}"

echo "== compile tests/c/header_cpp.cpp (C++17)"
g++ "${cxxflags[@]}" -c tests/c/header_cpp.cpp -o "$out/header_cpp.o"
# Linking proves the header gives the functions C linkage.
g++ "$out/header_cpp.o" -o "$out/header_cpp" "${ldflags[@]}"
"$out/header_cpp"

echo "== run build/c/test_offtrack"
status=0
"$out/test_offtrack" || status=$?
if ((status != 0)); then
    echo "tests/c: FAILED (exit status $status)" >&2
    exit "$status"
fi
echo "tests/c: OK"
