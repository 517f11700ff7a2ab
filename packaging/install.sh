#!/usr/bin/env bash
# Lays out a built Offtrack for C and C++ users under a prefix:
#   include/offtrack.h, include/offtrack.hpp
#   lib/libofftrack.so, lib/libofftrack.a                (Linux)
#   bin/offtrack.dll, lib/offtrack.lib (MSVC import library),
#   lib/libofftrack.dll.a (mingw import library), lib/libofftrack.a (Windows, GNU ABI)
#   lib/pkgconfig/offtrack.pc, lib/pkgconfig/offtrack-static.pc
#   lib/cmake/offtrack/offtrackConfig.cmake, offtrackConfigVersion.cmake
#
#   bash packaging/install.sh [--prefix DIR] [--destdir DIR] [--target TRIPLE] [--from DIR]
#
# --prefix   where the files go (default /usr/local)
# --destdir  staging root put before the prefix (default: $DESTDIR), as packagers use it
# --target   the platform whose build to install (default: the host's); the
#            host's build is read from ${CARGO_TARGET_DIR:-target}/release, the
#            others' from ${CROSS_TARGET_DIR:-target/cross}/TRIPLE/release
#            (made by tests/platforms/{windows,aarch64}.sh build)
# --from     read the build from this directory instead
#
# It builds nothing: a missing file is an error that names the command to
# build it. The pkg-config and CMake files find the prefix from their own
# place, so an installed tree can be moved or unpacked anywhere.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "packaging/install.sh: $*" >&2; exit 1; }

prefix=/usr/local
destdir=${DESTDIR:-}
target=""
from=""
while (($#)); do
    case $1 in
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --destdir) destdir=${2?--destdir needs a directory}; shift 2 ;;
        --target) target=${2:?--target needs a triple}; shift 2 ;;
        --from) from=${2:?--from needs a directory}; shift 2 ;;
        -h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ $prefix == /* ]] || die "--prefix must be an absolute path: $prefix"

host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p') || true
host=${host:-x86_64-unknown-linux-gnu}
target=${target:-$host}
if [[ -z $from ]]; then
    if [[ $target == "$host" ]]; then
        from=${CARGO_TARGET_DIR:-$root/target}/release
        build_hint="make build"
    else
        from=${CROSS_TARGET_DIR:-$root/target/cross}/$target/release
        case $target in
            *-windows-*) build_hint="make build-windows" ;;
            aarch64-*) build_hint="make build-aarch64" ;;
            *) build_hint="a cross build of $target into $from" ;;
        esac
    fi
else
    build_hint="build $target into $from"
fi

version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml")
description=$(sed -n '/^\[package\]/,/^\[/s/^description *= *"\(.*\)"/\1/p' "$root/Cargo.toml")
[[ -n $version ]] || die "no version in Cargo.toml's [package]"

# What each platform installs. static_libs: what libofftrack.a needs from
# the system, as `cargo rustc --release --lib --crate-type staticlib --
# --print native-static-libs` printed it (Rust 1.95/1.96; for Windows with
# tests/platforms/cross.sh's cross_cargo). Re-measure after a dependency
# change: tests/install links static programs with them (run.sh on the
# host, cross-link.sh for aarch64 and Windows), so a missing one fails there.
case $target in
    *-linux-gnu)
        cmake_system=Linux
        shared=libofftrack.so shared_dir=lib
        implib_msvc="" implib_gnu=""
        libs=(libofftrack.so libofftrack.a)
        static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
        cmake_static_libs="Threads::Threads;dl;m;rt;util;gcc_s"
        needs_threads=TRUE
        strip_tool=strip
        [[ $target == "$host" ]] || strip_tool=${target%%-*}-linux-gnu-strip
        ;;
    x86_64-pc-windows-gnu)
        cmake_system=Windows
        shared=offtrack.dll shared_dir=bin
        implib_msvc=lib/offtrack.lib implib_gnu=lib/libofftrack.dll.a
        libs=(offtrack.dll offtrack.lib libofftrack.dll.a libofftrack.a)
        static_libs="-lbcrypt -ladvapi32 -lkernel32 -lntdll -luserenv -lws2_32 -ldbghelp"
        cmake_static_libs="bcrypt;advapi32;kernel32;ntdll;userenv;ws2_32;dbghelp"
        needs_threads=FALSE
        strip_tool=x86_64-w64-mingw32-strip
        ;;
    *) die "no install layout for target $target (known: *-linux-gnu, x86_64-pc-windows-gnu)" ;;
esac

missing=()
for f in "${libs[@]}"; do [[ -f $from/$f ]] || missing+=("$from/$f"); done
for f in offtrack.h offtrack.hpp; do [[ -f $root/include/$f ]] || missing+=("$root/include/$f"); done
((${#missing[@]} == 0)) || die "missing ${missing[*]} -- build it first ($build_hint)"

dest=$destdir$prefix
install -d -m 0755 "$dest/include" "$dest/lib/pkgconfig" "$dest/lib/cmake/offtrack"
install -m 0644 "$root/include/offtrack.h" "$root/include/offtrack.hpp" "$dest/include/"
for f in "${libs[@]}"; do
    case $f in
        *.so | *.dll) install -d -m 0755 "$dest/$shared_dir"; install -m 0755 "$from/$f" "$dest/$shared_dir/$f" ;;
        *) install -m 0644 "$from/$f" "$dest/lib/$f" ;;
    esac
done

# Cargo strips the shared library (profile.release.strip) but cannot strip
# the archive, which keeps the debug information of std and every
# dependency: a fifth of its size, of no use to a release build. Symbols
# stay, so the archive links as before.
if command -v "$strip_tool" >/dev/null 2>&1; then
    "$strip_tool" --strip-debug "$dest/lib/libofftrack.a"
else
    echo "packaging/install.sh: warning: $strip_tool not found: lib/libofftrack.a keeps its debug information" >&2
fi

# fill TEMPLATE OUT: the template with its @NAME@ placeholders replaced.
fill() {
    local tmp
    tmp=$(mktemp)
    sed -e "s|@VERSION@|$version|g" -e "s|@TRIPLE@|$target|g" \
        -e "s|@DESCRIPTION@|$description|g" -e "s|@STATIC_LIBS@|$static_libs|g" \
        -e "s|@CMAKE_STATIC_LIBS@|$cmake_static_libs|g" -e "s|@NEEDS_THREADS@|$needs_threads|g" \
        -e "s|@CMAKE_SYSTEM@|$cmake_system|g" -e "s|@SHARED_LOCATION@|$shared_dir/$shared|g" \
        -e "s|@IMPLIB_MSVC@|$implib_msvc|g" -e "s|@IMPLIB_GNU@|$implib_gnu|g" \
        "$root/packaging/$1" >"$tmp"
    if grep -n '@[A-Z_]*@' "$tmp" >&2; then
        rm -f "$tmp"
        die "placeholder left in $1 (above)"
    fi
    install -m 0644 "$tmp" "$2"
    rm -f "$tmp"
}
fill offtrack.pc.in "$dest/lib/pkgconfig/offtrack.pc"
fill offtrack-static.pc.in "$dest/lib/pkgconfig/offtrack-static.pc"
fill offtrackConfig.cmake.in "$dest/lib/cmake/offtrack/offtrackConfig.cmake"
fill offtrackConfigVersion.cmake.in "$dest/lib/cmake/offtrack/offtrackConfigVersion.cmake"

echo "installed offtrack $version ($target) into $dest"
