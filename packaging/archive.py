#!/usr/bin/env python3
"""Reproducible archives: the same directory gives the same bytes.

    python3 packaging/archive.py tar.gz|zip SRC_DIR OUT_PATH PREFIX [MTIME]

Entries are the regular files under SRC_DIR (no directory entries, no
symlinks: a symlink is an error), sorted by path, stored as PREFIX/<path>
with a fixed time (MTIME, Unix seconds: default SOURCE_DATE_EPOCH, else the
last commit's time), owner 0:0 with no names, mode 0644 (0755 for a file
with an execute bit). tar.gz: POSIX tar, gzip without name or time. zip:
deflate, Unix attributes, no extra fields.
"""
import gzip
import io
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path


def _files(src_dir):
    root = Path(src_dir)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                raise ValueError(f"not a regular file: {path}")
            out.append((path.relative_to(root).as_posix(), path))
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            if (Path(dirpath) / name).is_symlink():
                raise ValueError(f"symlinked folder: {Path(dirpath) / name}")
    return sorted(out)


def _mode(path):
    return 0o755 if os.stat(path).st_mode & 0o111 else 0o644


def write_tar_gz(src_dir, out_path, arcname_prefix, mtime):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in _files(src_dir):
            info = tarfile.TarInfo(f"{arcname_prefix}/{rel}" if arcname_prefix else rel)
            info.size = path.stat().st_size
            info.mtime = int(mtime)
            info.mode = _mode(path)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    with open(out_path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(buf.getvalue())


def write_zip(src_dir, out_path, arcname_prefix, mtime):
    # Zip times are local-time fields without a zone: the UTC date is written.
    date_time = time.gmtime(max(int(mtime), 315532800))[:6]  # not before 1980
    with zipfile.ZipFile(out_path, "w") as zf:
        for rel, path in _files(src_dir):
            info = zipfile.ZipInfo(f"{arcname_prefix}/{rel}" if arcname_prefix else rel, date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = (0o100000 | _mode(path)) << 16
            zf.writestr(info, path.read_bytes(), compresslevel=9)


def default_mtime():
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    out = subprocess.run(["git", "log", "-1", "--format=%ct"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    if out.returncode != 0 or not out.stdout.strip():
        raise ValueError("no SOURCE_DATE_EPOCH and no git commit to take the time from")
    return int(out.stdout.strip())


def main(argv):
    if len(argv) not in (5, 6) or argv[1] not in ("tar.gz", "zip"):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    kind, src, out, prefix = argv[1:5]
    try:
        mtime = int(argv[5]) if len(argv) == 6 else default_mtime()
        (write_tar_gz if kind == "tar.gz" else write_zip)(src, out, prefix, mtime)
    except (OSError, ValueError) as e:
        print(f"archive.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
