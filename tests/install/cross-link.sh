#!/usr/bin/env bash
# Links the C consumer against another platform's dist archive, unpacked in
# a scratch folder, with that platform's cross gcc: with pkg-config
# (offtrack, offtrack-static) and CMake (find_package, OFFTRACK_STATIC OFF
# and ON, a cross toolchain file), then checks what each program imports.
# This proves the archive's pkg-config and CMake files for that platform
# (import library, system libraries of the static archive); the programs
# are not run here (tests/platforms runs the library itself there).
#   bash tests/install/cross-link.sh TRIPLE ARCHIVE
# Prints a SKIPPED line when the cross gcc, cmake or pkg-config is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
triple=$1 archive=$2

fail() { echo "tests/install/cross-link ($triple): FAILED: $*" >&2; exit 1; }

case $triple in
    x86_64-pc-windows-gnu)
        cc=x86_64-w64-mingw32-gcc system=Windows exe=.exe
        imports() { x86_64-w64-mingw32-objdump -p "$1" | sed -n 's/^\s*DLL Name: //p'; }
        shared_import=offtrack.dll
        ;;
    aarch64-unknown-linux-gnu)
        cc=aarch64-linux-gnu-gcc system=Linux exe=""
        imports() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
        shared_import=libofftrack.so
        ;;
    *) fail "no cross link check for $triple" ;;
esac
missing=()
for tool in "$cc" cmake pkg-config; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if ((${#missing[@]})); then
    echo "SKIPPED: cross link check for $triple: missing ${missing[*]} (apt-get install -y cmake pkg-config; the cross gcc: see tests/platforms)"
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/offtrack-cross-link.XXXXXX")
trap 'rm -rf "$work"' EXIT
python3 -c 'import shutil, sys; shutil.unpack_archive(sys.argv[1], sys.argv[2])' "$archive" "$work/unpacked"
tree=$(echo "$work"/unpacked/offtrack-*)
[[ -d $tree ]] || fail "$archive has no offtrack-* top folder"

bin=$work/bin
mkdir -p "$bin"
# Only the archive's .pc files: none of the host's.
export PKG_CONFIG_LIBDIR=$tree/lib/pkgconfig PKG_CONFIG_PATH=""
read -ra shared_flags <<<"$(pkg-config --cflags --libs offtrack)"
read -ra static_flags <<<"$(pkg-config --static --cflags --libs offtrack-static)"
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -O1)
"$cc" "${cflags[@]}" tests/install/consumer.c -o "$bin/pkgconfig-shared$exe" "${shared_flags[@]}"
"$cc" "${cflags[@]}" tests/install/consumer.c -o "$bin/pkgconfig-static$exe" "${static_flags[@]}"

cat >"$work/toolchain.cmake" <<EOF
set(CMAKE_SYSTEM_NAME $system)
set(CMAKE_SYSTEM_PROCESSOR ${triple%%-*})
set(CMAKE_C_COMPILER $cc)
EOF
for linkage in shared static; do
    static=OFF
    [[ $linkage == static ]] && static=ON
    if ! { cmake -S tests/install -B "$work/cmake-$linkage" -DCMAKE_TOOLCHAIN_FILE="$work/toolchain.cmake" \
        -DCMAKE_PREFIX_PATH="$tree" -DCONSUMER_CXX=OFF -DOFFTRACK_STATIC=$static &&
        cmake --build "$work/cmake-$linkage"; } >"$work/cmake-$linkage.log" 2>&1; then
        cat "$work/cmake-$linkage.log" >&2
        fail "CMake build ($linkage)"
    fi
    cp "$work/cmake-$linkage/consumer_c$exe" "$bin/cmake-$linkage$exe"
done

for p in pkgconfig-shared cmake-shared pkgconfig-static cmake-static; do
    imported=$(imports "$bin/$p$exe")
    case $p in
        *-shared) grep -qxF "$shared_import" <<<"$imported" || fail "$p does not import $shared_import" ;;
        *-static) if grep -qiF offtrack <<<"$imported"; then fail "$p (static) imports $(grep -iF offtrack <<<"$imported")"; fi ;;
    esac
    echo "$triple $p: imports $(tr '\n' ' ' <<<"$imported")"
done
echo "tests/install/cross-link ($triple): 4 programs linked"
