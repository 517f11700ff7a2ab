#!/usr/bin/env python3
"""Third-party notices of the Offtrack library for one or more target triples.

    python3 packaging/notices.py TRIPLE [TRIPLE...] > THIRD-PARTY-NOTICES.txt

Generated from Cargo.lock, never written by hand:

- the crates are those `cargo tree -e normal,no-proc-macro --target TRIPLE`
  reaches from `offtrack` with its default features: normal dependencies only
  (no build or dev dependencies, no proc-macro crates, which run in the
  compiler and are not linked), with the features cargo's resolver enables
  for that target. `cargo metadata` alone is not enough: it unites the
  features of every platform (minreq's `webpki-roots`, Android only, would
  appear on Linux);
- each crate's name, version, license expression and repository come from
  `cargo metadata --filter-platform TRIPLE`, and the full text of its license
  files (LICENSE*, LICENCE*, COPYING*, NOTICE*) from its source directory
  (the registry cache, or vendor/ for a path dependency such as the patched
  minreq). A crate that ships none gets the standard text of each license of
  its expression from packaging/licenses/.

A text several crates ship word for word (most often the Apache License) is
printed once, at the end, and named where it applies. With several triples the crates of all of them are listed, each marked with
the targets it is linked for when that is not all of them. Output is sorted
and depends only on Cargo.lock, the crate sources and packaging/licenses/.
Cargo runs with --locked --offline (the crates must be in cargo's cache;
`cargo fetch` downloads them). Exits non-zero with a message on any error.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "licenses"
ROOT_CRATE = "offtrack"
LICENSE_FILE = re.compile(r"^(licen[cs]e|copying|notice)", re.I)
RULE = "=" * 79


class Failure(Exception):
    pass


def cargo(*args: str) -> str:
    command = [os.environ.get("CARGO", "cargo"), *args, "--locked", "--offline"]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    except OSError as e:
        raise Failure(f"cannot run cargo: {e}")
    if done.returncode != 0:
        raise Failure(f"`{' '.join(command)}` failed:\n{done.stderr.strip()}")
    return done.stdout


def linked_crates(triple: str) -> set:
    """(name, version) of every crate linked into the library for the triple."""
    out = cargo("tree", "-p", ROOT_CRATE, "-e", "normal,no-proc-macro", "--target", triple,
                "--prefix", "none", "--format", "{p}")
    crates = set()
    for line in out.splitlines():
        m = re.match(r"^(\S+) v(\S+)", line.strip())
        if m:
            crates.add((m.group(1), m.group(2)))
    if (ROOT_CRATE, cargo_version()) not in crates:
        raise Failure(f"cargo tree for {triple} did not list {ROOT_CRATE}")
    crates.discard((ROOT_CRATE, cargo_version()))
    return crates


_version = None


def cargo_version() -> str:
    global _version
    if _version is None:
        m = re.search(r'(?m)^version\s*=\s*"([^"]+)"', (ROOT / "Cargo.toml").read_text(encoding="utf-8"))
        if not m:
            raise Failure("no version in Cargo.toml")
        _version = m.group(1)
    return _version


def packages(triple: str) -> dict:
    meta = json.loads(cargo("metadata", "--format-version", "1", "--filter-platform", triple))
    return {(p["name"], p["version"]): p for p in meta["packages"]}


def license_ids(expression: str) -> list:
    """The license identifiers of an SPDX expression ("MIT/Apache-2.0" is the old "OR")."""
    expression = expression.replace("/", " OR ")
    expression = re.sub(r"\bWITH\s+\S+", " ", expression)
    ids = [t for t in re.split(r"[\s()]+", expression) if t and t not in ("OR", "AND")]
    return list(dict.fromkeys(ids))


def read_text(path: Path) -> str:
    text = path.read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


def license_texts(package: dict) -> list:
    """(title, text) of each license text of the crate, in order."""
    name, version = package["name"], package["version"]
    expression = package.get("license") or ""
    source = Path(package["manifest_path"]).parent
    files = sorted((p for p in source.iterdir() if p.is_file() and LICENSE_FILE.match(p.name)),
                   key=lambda p: p.name)
    if package.get("license_file"):
        extra = (source / package["license_file"]).resolve()
        if extra.is_file() and extra not in [p.resolve() for p in files]:
            files.append(extra)
    if files:
        texts = [(path.name, read_text(path)) for path in files]
        # License files a top-level one points to by path (ring's LICENSE names
        # src/polyfill/once_cell/LICENSE-APACHE and -MIT).
        named = set()
        for _, text in texts:
            named.update(re.findall(r"\b((?:[\w.-]+/)+(?:LICEN[CS]E|COPYING|NOTICE)[\w.-]*)", text))
        for rel in sorted(named):
            path = source / rel
            if path.is_file() and path.resolve() not in [p.resolve() for p in files]:
                texts.append((rel, read_text(path)))
        return texts
    ids = license_ids(expression)
    found = [i for i in ids if (TEMPLATES / f"{i}.txt").is_file()]
    if not found:
        raise Failure(f"{name} {version} ships no license file and no template covers "
                      f"its license {expression!r} (add one to {TEMPLATES.relative_to(ROOT)}/)")
    return [(f"{i} (standard text; the crate ships no license file)", read_text(TEMPLATES / f"{i}.txt"))
            for i in found]


def notice(package: dict, targets: list, all_targets: list, shared: dict) -> str:
    name, version = package["name"], package["version"]
    expression = package.get("license") or ""
    source = Path(package["manifest_path"]).parent
    lines = [RULE, f"{name} {version}", RULE,
             f"License: {expression or '(none declared)'}",
             f"Repository: {package.get('repository') or '(none declared)'}"]
    if package.get("source") is None:
        # A path dependency: a patched copy of a published crate.
        lines.append(f"Source: {source.relative_to(ROOT).as_posix()} in the Offtrack repository "
                     "(a patched copy of the published crate)")
    if targets != all_targets:
        lines.append("Linked for: " + ", ".join(targets))
    texts = license_texts(package)
    if all("standard text" in title for title, _ in texts):
        authors = ", ".join(package.get("authors") or []) or f"the authors of {name}"
        lines += [f"Copyright holders: {authors}."]
    for title, text in texts:
        if text in shared:
            lines += ["", f"--- {title}: text {shared[text]} at the end of this file ---"]
        else:
            lines += ["", f"--- {title} ---", "", text]
    return "\n".join(lines) + "\n"


def std_notice(shared: dict) -> str:
    lines = [RULE, "Rust standard library", RULE,
             "License: MIT OR Apache-2.0 (parts under their own permissive licenses, listed",
             "in the Rust distribution's COPYRIGHT file)",
             "Repository: https://github.com/rust-lang/rust",
             "",
             "std, core, alloc and their dependencies are linked from the Rust toolchain that",
             "built the library. Copyright holders: the Rust project developers."]
    for i in ("MIT", "Apache-2.0"):
        body = read_text(TEMPLATES / f"{i}.txt")
        if body in shared:
            lines += ["", f"--- {i} (standard text): text {shared[body]} at the end of this file ---"]
        else:
            lines += ["", f"--- {i} (standard text) ---", "", body]
    return "\n".join(lines) + "\n"


def main(argv: list) -> int:
    triples = argv[1:]
    if not triples or any(t.startswith("-") for t in triples):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    triples = sorted(dict.fromkeys(triples))
    linked = {}  # (name, version) -> [triples]
    info = {}
    for triple in triples:
        crates = linked_crates(triple)
        meta = packages(triple)
        for key in crates:
            if key not in meta:
                raise Failure(f"{key[0]} {key[1]} is in cargo tree but not in cargo metadata for {triple}")
            linked.setdefault(key, []).append(triple)
            info[key] = meta[key]
    if not linked:
        raise Failure("no crates found")

    out = [f"THIRD-PARTY NOTICES: Offtrack library {cargo_version()}",
           "",
           f"Targets: {', '.join(triples)}",
           "",
           "The Offtrack library statically links the crates listed below and the Rust",
           "standard library. Their licenses and notices follow. This file is generated",
           "from Cargo.lock by packaging/notices.py.",
           "",
           f"{len(linked)} crates:"]
    width = max(len(f"{n} {v}") for n, v in linked)
    for (name, version) in sorted(linked):
        out.append(f"  {name + ' ' + version:<{width}}  {info[(name, version)].get('license') or '(none declared)'}")
    out.append("")
    text = "\n".join(out) + "\n"
    # A text that several crates ship word for word (the Apache License) is
    # printed once, at the end, and named where it applies.
    count = {}
    for key in linked:
        for _, body in license_texts(info[key]):
            count[body] = count.get(body, 0) + 1
    shared = {}
    for key in sorted(linked):
        for _, body in license_texts(info[key]):
            if count[body] > 1 and body not in shared:
                shared[body] = f"[{len(shared) + 1}]"
    for key in sorted(linked):
        text += "\n" + notice(info[key], linked[key], triples, shared)
    text += "\n" + std_notice(shared)
    if shared:
        text += f"\n{RULE}\nLicense texts shipped by several crates\n{RULE}\n"
        for body, label in shared.items():
            text += f"\n--- {label} ---\n\n{body}\n"
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Failure as e:
        print(f"notices.py: {e}", file=sys.stderr)
        sys.exit(1)
