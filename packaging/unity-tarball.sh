#!/usr/bin/env bash
# The Unity package as a UPM tarball (Package Manager: "Add package from
# tarball"), with the native binaries that have been built:
#
#   bash packaging/unity-tarball.sh OUTDIR   # -> OUTDIR/<name>-<version>.tgz
#
# npm layout (package/package.json, ...): the package's tracked files (minus
# build-plugins.sh, which builds from this repository), each platform binary
# of packaging/unity-plugins.sh that exists, with its import settings, and
# LICENSE.md and "Third Party Notices.md" (packaging/notices.py for the
# platforms included). A platform not built is absent, folder and .meta
# included. Reproducible: entries sorted, time SOURCE_DATE_EPOCH or the last
# commit's, owner 0:0, gzip without name or time (packaging/archive.py).
# Builds nothing: cargo build --release, make build-windows, ... first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source packaging/unity-plugins.sh

[[ $# -eq 1 ]] || { echo "usage: bash packaging/unity-tarball.sh OUTDIR" >&2; exit 2; }
outdir=$1
mkdir -p "$outdir"

read -r name version < <(python3 -c 'import json,sys; p=json.load(open("unity/package.json")); print(p["name"], p["version"])')
crate_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[[ $version == "$crate_version" ]] || {
    echo "unity-tarball: unity/package.json version $version is not the crate's $crate_version" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/package
mkdir -p "$pkg"

# The package's tracked files, as they are in the working tree.
git ls-files -z unity | while IFS= read -r -d '' f; do
    rel=${f#unity/}
    case $rel in
        .gitignore | build-plugins.sh | build-plugins.sh.meta) continue ;;
    esac
    mkdir -p "$pkg/$(dirname "$rel")"
    cp "$f" "$pkg/$rel"
done

triples=()
while read -r rel src plat_triples; do
    if [[ -f $src ]]; then
        unity_place_plugin "$pkg" "$src" "$rel"
        read -r -a t <<<"$plat_triples"
        triples+=("${t[@]}")
        echo "unity-tarball: Runtime/Plugins/$rel <- $src"
    else
        echo "unity-tarball: Runtime/Plugins/$rel absent ($src not built)"
    fi
done < <(unity_plugin_binaries)
if ((${#triples[@]} == 0)); then
    echo "unity-tarball: no native binary has been built (cargo build --release first)" >&2
    exit 1
fi

{
    echo "Offtrack is licensed under either of the MIT license or the Apache License,"
    echo "Version 2.0, at your option. Both texts follow."
    echo
    echo "--- MIT ---"
    echo
    cat LICENSE-MIT
    echo
    echo "--- Apache-2.0 ---"
    echo
    cat LICENSE-APACHE
} >"$pkg/LICENSE.md"
python3 packaging/notices.py "${triples[@]}" >"$pkg/Third Party Notices.md"
cp packaging/unity/package/LICENSE.md.meta "packaging/unity/package/Third Party Notices.md.meta" "$pkg/"

out=$outdir/$name-$version.tgz
python3 packaging/archive.py "$stage/package" "$out" --root package --files-only
echo "unity-tarball: $out ($(wc -c <"$out") bytes)"
