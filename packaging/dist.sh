#!/usr/bin/env bash
# `make dist`: one archive per platform in dist/, with the install layout
# (packaging/install.sh) under a top folder offtrack-<version>-<triple>/,
# the licences, README.md, VERSION and THIRD-PARTY-NOTICES.txt:
#   offtrack-<version>-x86_64-unknown-linux-gnu.tar.gz
#   offtrack-<version>-aarch64-unknown-linux-gnu.tar.gz
#   offtrack-<version>-x86_64-pc-windows-gnu.zip   (zip: Explorer opens it without extra tools)
# then the Unity package (packaging/unity-tarball.sh) and the Unreal
# plugin (packaging/unreal-zip.sh), then dist/SHA256SUMS. The same sources and builds give the same bytes
# (packaging/archive.py; mtime = SOURCE_DATE_EPOCH if set, else the last
# commit's time).
#
#   bash packaging/dist.sh            # builds each platform first (incremental)
#   DIST_NO_BUILD=1 bash packaging/dist.sh   # packs the builds already there
#   DIST_PLATFORMS_ONLY=1 bash packaging/dist.sh   # without the Unity and Unreal packages
#
# A platform whose cross toolchain is missing prints a SKIPPED line and is
# left out; the host's archive is always made.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

die() { echo "packaging/dist.sh: $*" >&2; exit 1; }

version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[[ -n $version ]] || die "no version in Cargo.toml's [package]"
# The archives' one mtime. Given to archive.py alone, not exported: the cc
# crate's build scripts watch SOURCE_DATE_EPOCH, and a changed value would
# make cargo rebuild ring and the library here and again in every later
# build without it.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || true)}
# Outside git: archive.py's fixed default (2026-01-01).
epoch=${epoch:-$(python3 -c 'import sys; sys.path.insert(0, "packaging"); import archive; print(archive.DEFAULT_EPOCH)')}
# The files staged here must not take the caller's umask.
umask 022

host=$(rustc -vV | sed -n 's/^host: //p')
cross_dir=${CROSS_TARGET_DIR:-$root/target/cross}

# built TRIPLE: is this platform's build present (after building it unless DIST_NO_BUILD)?
built() {
    local triple=$1 script="" log
    case $triple in
        "$host") [[ -n ${DIST_NO_BUILD:-} ]] || cargo build --release ;;
        x86_64-pc-windows-gnu) script=tests/platforms/windows.sh ;;
        aarch64-unknown-linux-gnu) script=tests/platforms/aarch64.sh ;;
        *) die "no build script for $triple" ;;
    esac
    if [[ -n $script && -z ${DIST_NO_BUILD:-} ]]; then
        log=$(mktemp)
        # The platform scripts print a SKIPPED line and exit 0 when a tool is missing.
        if ! bash "$script" build >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            die "building $triple failed (bash $script build, output above)"
        fi
        if grep -q '^SKIPPED' "$log"; then
            echo "SKIPPED: dist archive for $triple: $(sed -n 's/^SKIPPED: //p' "$log" | head -n 1)"
            rm -f "$log"
            return 1
        fi
        rm -f "$log"
    fi
    # The file each build makes last: its presence means a whole build.
    local last=$cross_dir/$triple/release/libofftrack.so
    [[ $triple == "$host" ]] && last=${CARGO_TARGET_DIR:-$root/target}/release/libofftrack.so
    [[ $triple == *-windows-* ]] && last=$cross_dir/$triple/release/offtrack.lib
    if [[ ! -f $last ]]; then
        echo "SKIPPED: dist archive for $triple: no $last (${script:+bash $script build}${script:+ }or without DIST_NO_BUILD)"
        return 1
    fi
}

rm -rf dist
mkdir -p dist
work=$(mktemp -d "${TMPDIR:-/tmp}/offtrack-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT

made=()
for triple in x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-pc-windows-gnu; do
    if [[ $triple != "$host" && $triple == x86_64-unknown-linux-gnu ]]; then
        die "the host is $host: the x86_64 Linux archive is made on an x86_64 Linux host"
    fi
    echo "== dist: $triple"
    built "$triple" || continue
    name=offtrack-$version-$triple
    stage=$work/$name
    bash packaging/install.sh --prefix / --destdir "$stage" --target "$triple" >/dev/null
    install -m 0644 LICENSE-MIT LICENSE-APACHE "$stage/"
    sed -e "s|@VERSION@|$version|g" -e "s|@TRIPLE@|$triple|g" packaging/README.dist.md >"$stage/README.md"
    echo "$version" >"$stage/VERSION"
    python3 packaging/notices.py "$triple" >"$stage/THIRD-PARTY-NOTICES.txt" ||
        die "packaging/notices.py $triple failed"
    chmod 0644 "$stage/README.md" "$stage/VERSION" "$stage/THIRD-PARTY-NOTICES.txt"
    case $triple in
        *-windows-*) archive=dist/$name.zip ;;
        *) archive=dist/$name.tar.gz ;;
    esac
    python3 packaging/archive.py "$stage" "$archive" --root "$name" --mtime "$epoch"
    made+=("${archive#dist/}")
    echo "dist: $archive ($(stat -c %s "$archive") bytes)"
done

# The engine packages, from their own scripts (checked by `make
# test-packages`; DIST_PLATFORMS_ONLY=1 leaves them out).
for script in packaging/unity-tarball.sh packaging/unreal-zip.sh; do
    if [[ -z ${DIST_PLATFORMS_ONLY:-} ]]; then
        echo "== dist: $script"
        # Not given SOURCE_DATE_EPOCH: unreal-zip.sh runs cargo (see above);
        # archive.py takes the same time as above by itself (the last
        # commit's, or its fixed default outside git).
        bash "$script" "$root/dist"
    fi
done

(cd dist && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs -r sha256sum >SHA256SUMS)
echo "dist: ${#made[@]} platform archive(s) and SHA256SUMS in dist/"
