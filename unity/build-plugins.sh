#!/usr/bin/env bash
# Builds the native library for this machine and copies it into the package's
# Runtime/Plugins/<platform>/ folder, next to its committed .meta import
# settings. Other platforms' binaries: see README.md, "Native binaries".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

"${CARGO:-cargo}" build --release

plugins=unity/Runtime/Plugins
case "$(uname -s)-$(uname -m)" in
    Linux-x86_64)
        src=target/release/libofftrack.so
        dst=$plugins/Linux/x86_64/libofftrack.so ;;
    Darwin-*)
        # The host architecture only; README.md shows the universal (lipo) build.
        src=target/release/libofftrack.dylib
        dst=$plugins/macOS/libofftrack.dylib ;;
    MINGW*-x86_64 | MSYS*-x86_64 | CYGWIN*-x86_64)
        src=target/release/offtrack.dll
        dst=$plugins/Windows/x86_64/offtrack.dll ;;
    *)
        echo "build-unity-plugins: no plugin folder for host $(uname -s)-$(uname -m)" >&2
        exit 1 ;;
esac

if [[ ! -f $src ]]; then
    echo "build-unity-plugins: $src was not built" >&2
    exit 1
fi
if [[ ! -f $dst.meta ]]; then
    echo "build-unity-plugins: $dst.meta is missing; the import settings must be committed" >&2
    exit 1
fi
cp "$src" "$dst"
echo "build-unity-plugins: $src -> $dst"

# Cross-built here (`make build-windows`, README "Platforms"): the Windows
# DLL goes beside its committed import settings too.
win=${CROSS_TARGET_DIR:-target/cross}/x86_64-pc-windows-gnu/release/offtrack.dll
if [[ -f $win ]]; then
    cp "$win" "$plugins/Windows/x86_64/offtrack.dll"
    echo "build-unity-plugins: $win -> $plugins/Windows/x86_64/offtrack.dll"
fi
