#!/usr/bin/env python3
"""Checks of the ready-to-install packages (packaging/):

- the Unity tarball and the Unreal zip, each built twice into two scratch
  folders, are the same bytes;
- each archive holds exactly the expected files: the tracked package or
  plugin files, the built native libraries, licenses and notices;
- Unity: a .meta for every file and folder of the tarball and no .meta
  without its asset; the same for the package as tracked in git (what a
  git-URL install gets);
- Unreal: Offtrack/ at the top, the staged libraries where stage.sh --list
  puts them, no Intermediate/, no engine-built Binaries.

Run after the host and cross builds (make build, make build-windows,
make build-aarch64): the Unity tarball packs what is built, the Unreal zip
stages it. Prints "N passed, M failed" last; exits non-zero on a failure.
"""
import json
import shutil
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}" + (f" -- {detail}" if detail else ""))


def run(*cmd):
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
    return done


def git_files(prefix):
    out = run("git", "ls-files", prefix).stdout.split("\n")
    return [f[len(prefix) + 1:] for f in out if f]


def dangling_metas(files):
    """.meta problems of a Unity package given as a set of relative file paths."""
    problems = []
    dirs = set()
    for f in files:
        parts = PurePosixPath(f).parts
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    assets = {f for f in files if not f.endswith(".meta")} | dirs
    for asset in sorted(assets):
        if any(p.endswith("~") or p.startswith(".") for p in PurePosixPath(asset).parts):
            continue  # Unity does not import these
        if asset + ".meta" not in files:
            problems.append(f"{asset}: no .meta")
    for meta in sorted(f for f in files if f.endswith(".meta")):
        if meta[: -len(".meta")] not in assets:
            problems.append(f"{meta}: no asset")
    return problems


SCRATCH = []


def build_twice(script, pattern):
    outs = []
    for i in (1, 2):
        d = tempfile.mkdtemp(prefix=f"offtrack-dist{i}-")
        SCRATCH.append(d)
        t0 = time.monotonic()
        done = run("bash", script, d)
        found = sorted(Path(d).glob(pattern))
        check(done.returncode == 0 and len(found) == 1, f"{script} (run {i}, {time.monotonic() - t0:.1f} s) makes one {pattern}",
              done.stderr.strip()[-500:])
        if done.returncode != 0 or len(found) != 1:
            return None
        outs.append(found[0])
    check(outs[0].name == outs[1].name and outs[0].read_bytes() == outs[1].read_bytes(),
          f"{outs[0].name}: both runs give the same bytes ({outs[0].stat().st_size} bytes)")
    return outs[0]


started = time.monotonic()

# ------------------------------------------------------------ Unity (git)
tracked = set(git_files("unity"))
problems = dangling_metas(tracked)
check(not problems, "unity/ as tracked in git (a git-URL install): a .meta for every asset, none dangling",
      "; ".join(problems[:10]))

# ------------------------------------------------------------ Unity tarball
pkg = json.loads((ROOT / "unity" / "package.json").read_text(encoding="utf-8"))
tgz = build_twice("packaging/unity-tarball.sh", "*.tgz")
if tgz:
    check(tgz.name == f"{pkg['name']}-{pkg['version']}.tgz", f"tarball named {pkg['name']}-{pkg['version']}.tgz")
    binaries = run("bash", "-c", "source packaging/unity-plugins.sh && unity_plugin_binaries").stdout.split("\n")
    built = []
    for line in filter(None, binaries):
        rel, src = line.split()[:2]
        if (ROOT / src).is_file():
            parts = PurePosixPath(rel).parts
            built.append(f"Runtime/Plugins/{rel}")
            built.append(f"Runtime/Plugins/{rel}.meta")
            for i in range(1, len(parts)):
                built.append("Runtime/Plugins/" + "/".join(parts[:i]) + ".meta")
    expected = {f for f in tracked if f not in (".gitignore", "build-plugins.sh", "build-plugins.sh.meta")}
    expected |= set(built)
    expected |= {"LICENSE.md", "LICENSE.md.meta", "Third Party Notices.md", "Third Party Notices.md.meta"}
    expected = sorted("package/" + f for f in expected)
    with tarfile.open(tgz) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        check(names == sorted(names), "tarball entries are sorted")
        check(names == expected, "tarball holds exactly the expected files",
              f"extra {sorted(set(names) - set(expected))}, missing {sorted(set(expected) - set(names))}")
        check(all(m.isfile() for m in members), "tarball holds regular files only")
        check(len({m.mtime for m in members}) == 1 and all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == ""
                                                        for m in members),
              "tarball entries: one time, owner 0:0, no owner names")
        check(all(m.mode in (0o644, 0o755) for m in members), "tarball modes are 0644 or 0755")
        problems = dangling_metas({n[len("package/"):] for n in names})
        check(not problems, "tarball: a .meta for every file and folder, none dangling", "; ".join(problems[:10]))
        notices = tar.extractfile("package/Third Party Notices.md").read().decode()
        check("minreq 3.0.0" in notices and "ring 0.17" in notices, "tarball notices list the linked crates")
        check(any(n.endswith("Linux/x86_64/libofftrack.so") for n in names),
              "tarball has the Linux x86_64 library (built here)")
    raw = tgz.read_bytes()
    check(raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0" and not raw[3] & 0x08,
          "gzip header without time or file name")

# ------------------------------------------------------------ Unreal zip
uplugin = json.loads((ROOT / "unreal" / "Offtrack" / "Offtrack.uplugin").read_text(encoding="utf-8"))
zpath = build_twice("packaging/unreal-zip.sh", "*.zip")
if zpath:
    check(zpath.name == f"Offtrack-{uplugin['VersionName']}-UE.zip", f"zip named Offtrack-{uplugin['VersionName']}-UE.zip")
    bin_ = "Binaries/ThirdParty/OfftrackLibrary"
    lib = "Source/ThirdParty/OfftrackLibrary"
    staged = {f"{bin_}/Linux/x86_64-unknown-linux-gnu/libofftrack.so",
              f"{bin_}/LinuxArm64/aarch64-unknown-linux-gnueabi/libofftrack.so",
              f"{bin_}/Win64/offtrack.dll", f"{lib}/lib/Win64/offtrack.lib",
              f"{lib}/include/offtrack.h", f"{lib}/include/offtrack.hpp"}
    listed = set(run("bash", "unreal/stage.sh", "--list").stdout.split())
    check(staged <= listed, "the zip's libraries are at paths unreal/stage.sh --list names", str(sorted(staged - listed)))
    expected = {f for f in git_files("unreal/Offtrack") if f != ".gitignore"} | staged
    expected |= {"Resources/Icon128.png", "LICENSE-MIT", "LICENSE-APACHE", "THIRD-PARTY-NOTICES.txt"}
    expected = sorted("Offtrack/" + f for f in expected)
    with zipfile.ZipFile(zpath) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        check(names == sorted(names), "zip entries are sorted")
        check(names == expected, "zip holds exactly the expected files",
              f"extra {sorted(set(names) - set(expected))}, missing {sorted(set(expected) - set(names))}")
        check(not any("/Intermediate/" in n for n in names), "zip has no Intermediate/")
        check(all(n.startswith(f"Offtrack/{bin_}/") for n in names if n.startswith("Offtrack/Binaries/")),
              "zip has no engine-built Binaries (only Binaries/ThirdParty/OfftrackLibrary)")
        check(len({i.date_time for i in infos}) == 1 and all(i.create_system == 3 and i.extra == b"" for i in infos),
              "zip entries: one time, Unix attributes, no extra fields")
        check(all((i.external_attr >> 16) in (0o100644, 0o100755) for i in infos), "zip modes are 0644 or 0755")
        packed = json.loads(zf.read("Offtrack/Offtrack.uplugin"))
        check(packed.get("VersionName") == uplugin["VersionName"] and packed.get("EngineVersion"),
              "packaged descriptor has VersionName and EngineVersion")
        icon = zf.read("Offtrack/Resources/Icon128.png")
        check(icon[:8] == b"\x89PNG\r\n\x1a\n" and icon[16:24] == (128).to_bytes(4, "big") * 2, "Icon128.png is a 128x128 PNG")
        notices = zf.read("Offtrack/THIRD-PARTY-NOTICES.txt").decode()
        check("x86_64-pc-windows-gnu" in notices and "aarch64-unknown-linux-gnu" in notices,
              "zip notices cover the staged targets")
        elf = zf.read(f"Offtrack/{bin_}/LinuxArm64/aarch64-unknown-linux-gnueabi/libofftrack.so")
        check(elf[:4] == b"\x7fELF" and elf[18] == 183, "LinuxArm64 library is an aarch64 ELF")
        check(zf.read(f"Offtrack/{bin_}/Win64/offtrack.dll")[:2] == b"MZ", "Win64 library is a PE DLL")

for d in SCRATCH:
    shutil.rmtree(d, ignore_errors=True)
print(f"time {time.monotonic() - started:.1f} s")
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
