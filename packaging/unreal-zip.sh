#!/usr/bin/env bash
# The Unreal plugin as a zip to unpack into a project's Plugins/ folder,
# with the prebuilt library of every platform that can be built here, so
# the user needs no Rust toolchain:
#
#   bash packaging/unreal-zip.sh OUTDIR   # -> OUTDIR/Offtrack-<version>-UE.zip
#
# Offtrack/ holds the plugin's tracked files, the library and headers staged
# by unreal/stage.sh --plugin into that copy (never into unreal/Offtrack),
# Resources/Icon128.png, LICENSE-MIT, LICENSE-APACHE and
# THIRD-PARTY-NOTICES.txt (packaging/notices.py); no Intermediate/ and no
# engine-built Binaries. Targets: UNREAL_ZIP_TARGETS, default Linux x86_64,
# Linux aarch64 and Win64 (cross-built; stage.sh builds them, or finds them
# built). DocsURL and SupportURL of the packaged descriptor come from
# OFFTRACK_DOCS_URL and OFFTRACK_SUPPORT_URL when set. Reproducible like
# packaging/archive.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ $# -eq 1 ]] || { echo "usage: bash packaging/unreal-zip.sh OUTDIR" >&2; exit 2; }
outdir=$1
mkdir -p "$outdir"
read -r -a targets <<<"${UNREAL_ZIP_TARGETS:-x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-pc-windows-gnu}"

version=$(python3 -c 'import json; print(json.load(open("unreal/Offtrack/Offtrack.uplugin"))["VersionName"])')
crate_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[[ $version == "$crate_version" ]] || {
    echo "unreal-zip: Offtrack.uplugin VersionName $version is not the crate's $crate_version" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
plugin=$stage/Offtrack
mkdir -p "$plugin"
git ls-files -z unreal/Offtrack | while IFS= read -r -d '' f; do
    rel=${f#unreal/Offtrack/}
    [[ $rel == .gitignore ]] && continue
    mkdir -p "$plugin/$(dirname "$rel")"
    cp "$f" "$plugin/$rel"
done

stage_args=()
for t in "${targets[@]}"; do stage_args+=(--target "$t"); done
bash unreal/stage.sh --plugin "$plugin" "${stage_args[@]}"

python3 - "$plugin/Offtrack.uplugin" <<'PY'
import json, os, sys
path = sys.argv[1]
with open(path, encoding="utf-8") as f:
    text = f.read()
d = json.loads(text)
for key, env in (("DocsURL", "OFFTRACK_DOCS_URL"), ("SupportURL", "OFFTRACK_SUPPORT_URL")):
    if os.environ.get(env):
        d[key] = os.environ[env]
with open(path, "w", encoding="utf-8", newline="\n") as f:
    f.write(json.dumps(d, indent="\t") + "\n")
PY

mkdir -p "$plugin/Resources"
python3 packaging/icon.py "$plugin/Resources/Icon128.png"
cp LICENSE-MIT LICENSE-APACHE "$plugin/"
python3 packaging/notices.py "${targets[@]}" >"$plugin/THIRD-PARTY-NOTICES.txt"

out=$outdir/Offtrack-$version-UE.zip
rm -f "$out"
python3 packaging/archive.py "$plugin" "$out" --root Offtrack --files-only
echo "unreal-zip: $out ($(wc -c <"$out") bytes)"
