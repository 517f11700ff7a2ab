#!/usr/bin/env bash
# `make dist` checked: run twice, every file in dist/ must be the same bytes;
# each platform archive must hold exactly its expected files
# (tests/install/layout/<triple>.txt under the top folder, plus the licences,
# README.md, VERSION and THIRD-PARTY-NOTICES.txt) with fixed modes, owner 0
# and one mtime; SHA256SUMS must match; another platform's archive must link
# a C program with its cross gcc (tests/install/cross-link.sh). A platform whose toolchain is missing
# is SKIPPED by dist.sh and then not expected here; the host's always is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
started=$SECONDS

fail() { echo "tests/install/dist: FAILED: $*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/offtrack-dist-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== dist, first run"
# The Unity and Unreal packages have their own check (make test-packages).
export DIST_PLATFORMS_ONLY=1
bash packaging/dist.sh | tee "$work/first.log"
cp -a dist "$work/first"
echo "== dist, second run ($((SECONDS - started)) s so far)"
bash packaging/dist.sh >"$work/second.log"

echo "== the same bytes twice"
diff <(cd "$work/first" && ls -A) <(cd dist && ls -A) || fail "the two runs made different files"
for f in dist/*; do
    cmp "$f" "$work/first/${f#dist/}" || fail "$f differs between two runs"
done
(cd dist && sha256sum --quiet -c SHA256SUMS) || fail "dist/SHA256SUMS does not match"

version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
host=$(rustc -vV | sed -n 's/^host: //p')
checked=0
for triple in x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-pc-windows-gnu; do
    case $triple in *-windows-*) ext=zip ;; *) ext=tar.gz ;; esac
    archive=dist/offtrack-$version-$triple.$ext
    if [[ ! -f $archive ]]; then
        [[ $triple != "$host" ]] || fail "no archive for the host: $archive"
        grep -q "^SKIPPED: dist archive for $triple" "$work/first.log" ||
            fail "no $archive and no SKIPPED line for it"
        continue
    fi
    echo "== $archive"
    # The expected "mode path" lines, sorted as the listing below is.
    {
        cat "tests/install/layout/$triple.txt"
        printf '644 %s\n' LICENSE-APACHE LICENSE-MIT README.md THIRD-PARTY-NOTICES.txt VERSION
    } | sed "s|^\([0-9]*\) |\1 offtrack-$version-$triple/|" | LC_ALL=C sort >"$work/expected.txt"
    # Read with the standard library's readers (not archive.py): files as
    # "mode path"; every entry's owner, mtime and a directory's mode checked.
    python3 - "$archive" "$epoch" "offtrack-$version-$triple" >"$work/listed.txt" <<'EOF' || fail "$archive: bad entries"
import sys, tarfile, time, zipfile
path, epoch, top = sys.argv[1], int(sys.argv[2]), sys.argv[3]
bad, files = [], []
if path.endswith(".zip"):
    with zipfile.ZipFile(path) as z:
        stamp = time.gmtime(max(epoch, 315532800) // 2 * 2)[:6]  # DOS time: 2 s steps
        for i in z.infolist():
            mode = (i.external_attr >> 16) & 0o7777
            if i.date_time != stamp:
                bad.append(f"{i.filename}: date {i.date_time}")
            if i.is_dir():
                if mode != 0o755:
                    bad.append(f"{i.filename}: directory mode {mode:o}")
            else:
                files.append((i.filename, mode))
            if not i.filename.startswith(top + "/"):
                bad.append(f"{i.filename}: not under {top}/")
else:
    with tarfile.open(path) as t:
        for m in t.getmembers():
            if (m.uid, m.gid, m.uname, m.gname) != (0, 0, "", ""):
                bad.append(f"{m.name}: owner {m.uid}:{m.gid} {m.uname}:{m.gname}")
            if m.mtime != epoch:
                bad.append(f"{m.name}: mtime {m.mtime}")
            if m.isdir():
                if m.mode != 0o755:
                    bad.append(f"{m.name}: directory mode {m.mode:o}")
            elif m.isfile():
                files.append((m.name, m.mode))
            else:
                bad.append(f"{m.name}: neither a file nor a directory")
            if m.name != top and not m.name.startswith(top + "/"):
                bad.append(f"{m.name}: not under {top}/")
for line in bad:
    print(line, file=sys.stderr)
for name, mode in files:
    print(f"{mode:o} {name}")
sys.exit(1 if bad else 0)
EOF
    diff -u "$work/expected.txt" <(LC_ALL=C sort "$work/listed.txt") || fail "$archive: files differ from the expected layout"
    echo "$archive: $(wc -l <"$work/listed.txt") files as expected, $(stat -c %s "$archive") bytes"
    checked=$((checked + 1))
    # Another platform's pkg-config and CMake files, used by its cross gcc.
    if [[ $triple != "$host" ]]; then
        bash tests/install/cross-link.sh "$triple" "$archive" || fail "$archive: cross link check"
    fi
done

echo "tests/install/dist: $checked passed, 0 failed ($((SECONDS - started)) s)"
