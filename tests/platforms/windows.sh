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
missing=$(cross_tools_missing x86_64-w64-mingw32-gcc x86_64-w64-mingw32-dlltool)
if [[ -n $missing ]]; then
    skipped "Windows build and tests" "$apt" "$missing"
    exit 0
fi

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

missing=$(cross_tools_missing "$wine")
if [[ -n $missing ]]; then
    skipped "Windows tests under Wine" "wine64" "$missing"
    exit 0
fi
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
echo "== windows: C suite under Wine ($("$wine" --version 2>/dev/null || echo wine))"
t0=$SECONDS
# Windows programs end lines with CRLF.
"$wine" "$bin/test_offtrack.exe" | tr -d '\r' | tee "$bin/test_offtrack.txt"
if ! grep -qE '^[0-9]+ passed, 0 failed$' "$bin/test_offtrack.txt"; then
    echo "windows: C suite FAILED under Wine" >&2
    exit 1
fi
echo "windows: C suite $((SECONDS - t0)) s"

echo "== windows: kill test under Wine"
t0=$SECONDS
store=$(mktemp -d)
trap 'rm -rf "$store"' EXIT
python3 tests/platforms/kill_test.py "${WINDOWS_KILLS:-10}" "$(winepath -w "$store/q" 2>/dev/null | tr '\\' '/' || echo "$store/q")" \
    "$wine" -- "$bin/kill_child.exe"
echo "windows: kill test $((SECONDS - t0)) s; all $((SECONDS - started)) s"
