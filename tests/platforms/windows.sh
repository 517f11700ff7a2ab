#!/usr/bin/env bash
# Windows x86_64: builds offtrack.dll (GNU ABI, mingw-w64) with an import
# library MSVC links (offtrack.lib, from a .def of the header's functions),
# then runs the C suite and a kill test under Wine against a collector on
# 127.0.0.1.
#   bash tests/platforms/windows.sh build    # the DLL and import libraries only
#   bash tests/platforms/windows.sh          # build, then test under Wine
# Prints a SKIPPED line (with the apt-get command) when a tool is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source tests/platforms/cross.sh

target=x86_64-pc-windows-gnu
apt="$CROSS_APT gcc-mingw-w64-x86-64 wine64"
wine=${WINE:-/usr/lib/wine/wine64}
require_tools "Windows build and tests" "$apt" x86_64-w64-mingw32-gcc x86_64-w64-mingw32-dlltool || exit 0

out=$CROSS_TARGET_DIR/$target/release
started=$SECONDS
echo "== windows: build $target"
CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc cross_cargo build "$target"
# The exports MSVC should see: exactly the header's functions.
{
    echo "LIBRARY offtrack.dll"
    echo "EXPORTS"
    grep -E '^[A-Za-z]' include/offtrack.h | grep -oE '\btracker_[a-z_]+\(' | tr -d '(' | sort -u | sed 's/^/    /'
} >"$out/offtrack.def"
x86_64-w64-mingw32-dlltool -d "$out/offtrack.def" -D offtrack.dll -m i386:x86-64 -l "$out/offtrack.lib"
echo "windows: $(wc -c <"$out/offtrack.dll") bytes offtrack.dll, offtrack.lib (MSVC), libofftrack.dll.a (mingw), $(($(wc -l <"$out/offtrack.def") - 2)) exports; $((SECONDS - started)) s"
[[ ${1:-} == build ]] && exit 0

require_tools "Windows tests under Wine" wine64 "$wine" || exit 0
bin=build/windows
rm -rf "$bin" && mkdir -p "$bin"
cp "$out/offtrack.dll" "$bin/"
# Wine 8 lacks bcryptprimitives.dll (Rust's std imports ProcessPrng from it):
# a test-only stand-in beside the programs, never shipped.
x86_64-w64-mingw32-gcc -shared -O2 -o "$bin/bcryptprimitives.dll" \
    tests/platforms/bcryptprimitives.c tests/platforms/bcryptprimitives.def -lbcrypt
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -I include -I tests/c -O1)
# Linked against the import library made above, as an MSVC user would; the
# C runtime and pthreads statically, so only offtrack.dll sits beside them.
x86_64-w64-mingw32-gcc "${cflags[@]}" tests/c/test_offtrack.c -o "$bin/test_offtrack.exe" \
    "$out/offtrack.lib" -static -lpthread -lws2_32
x86_64-w64-mingw32-gcc "${cflags[@]}" tests/c/kill_child.c -o "$bin/kill_child.exe" \
    "$out/offtrack.lib" -static -lpthread -lws2_32

export WINEPREFIX=${WINEPREFIX:-$PWD/build/wineprefix} WINEDEBUG=-all
mkdir -p "$WINEPREFIX"
run_c_suite windows "$bin/test_offtrack.exe" "$wine"

echo "== windows: Rust unit tests under Wine"
t0=$SECONDS
tests_exe=$(CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc cross_cargo test "$target" --no-run 2>&1 |
    sed -n 's/.*Executable unittests src\/lib.rs (\(.*\.exe\))$/\1/p' | tail -n 1)
[[ -n $tests_exe ]] || { echo "windows: the unit-test program was not built" >&2; exit 1; }
cp "$bin/bcryptprimitives.dll" "$(dirname "$tests_exe")/"
"$wine" "$tests_exe" | tr -d '\r' | tee "$bin/unit-tests.txt" | grep -E '^test result|FAILED|panicked'
grep -qE '^test result: ok' "$bin/unit-tests.txt" || { echo "windows: Rust unit tests FAILED" >&2; exit 1; }
echo "windows: Rust unit tests $((SECONDS - t0)) s"

# The store's path as the Windows program sees it (Z:/tmp/...).
to_windows_path() { winepath -w "$1" | tr '\\' '/'; }
STORE_PATH_OF=to_windows_path run_kill_test windows "${WINDOWS_KILLS:-10}" "$bin/kill_child.exe" "$wine"
echo "windows: all $((SECONDS - started)) s"
