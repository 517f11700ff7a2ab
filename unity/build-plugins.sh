#!/usr/bin/env bash
# Builds the native library for this machine, then copies every platform's
# binary that has been built (this machine's, the Windows DLL cross-built by
# `make build-windows`, and those of README.md, "Native binaries") into the
# package's Runtime/Plugins/<platform>/ folder, with its import settings from
# packaging/unity/plugin-meta/ (packaging/unity-plugins.sh lists the paths).
# For a package to install elsewhere, prefer the tarball:
# bash packaging/unity-tarball.sh OUTDIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source packaging/unity-plugins.sh

"${CARGO:-cargo}" build --release

placed=0
while read -r rel src _; do
    [[ -f $src ]] || continue
    unity_place_plugin unity "$src" "$rel"
    echo "build-unity-plugins: $src -> unity/Runtime/Plugins/$rel"
    placed=$((placed + 1))
done < <(unity_plugin_binaries)
if ((placed == 0)); then
    echo "build-unity-plugins: no binary for this machine ($(uname -s)-$(uname -m)) was built" >&2
    exit 1
fi
