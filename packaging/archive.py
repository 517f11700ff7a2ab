#!/usr/bin/env python3
"""Deterministic archives: the same directory gives the same bytes.

Library use (packaging scripts import it from packaging/):

    import archive
    archive.write_archive(src_dir, out_path, root=None, mtime=None)
    archive.write_tar_gz(src_dir, out_path, root=None, mtime=None)
    archive.write_zip(src_dir, out_path, root=None, mtime=None)
    archive.source_date_epoch()   # SOURCE_DATE_EPOCH, else DEFAULT_EPOCH

Command line:

    python3 packaging/archive.py SRC_DIR OUT_PATH [--root NAME] [--mtime EPOCH]

The format follows OUT_PATH's extension (.tar.gz, .tgz or .zip). Every entry
sits under one top folder, `root` (default: SRC_DIR's own name), so an
archive unpacks into a single directory. What is normalised, so that only
the files' names and contents matter:
  - entries sorted by path (directories before their contents);
  - one mtime for all (SOURCE_DATE_EPOCH, else DEFAULT_EPOCH);
  - owner and group 0 with empty names (tar), Unix attributes (zip);
  - modes 0755 for directories and for files with any execute bit, 0644 for
    the rest;
  - gzip without a file name and with mtime 0 (what `gzip -n` writes).
Symbolic links and special files are refused: the layouts packed here have
none, and following them silently would pack something else than intended.
"""

import argparse
import gzip
import io
import os
import stat
import subprocess
import sys
import tarfile
import time
import zipfile

# 2026-01-01T00:00:00Z: the mtime when neither SOURCE_DATE_EPOCH nor a git
# commit gives one.
DEFAULT_EPOCH = 1767225600
# zip stores DOS dates, which start in 1980.
_ZIP_MIN_EPOCH = 315532800


class ArchiveError(Exception):
    pass


def source_date_epoch():
    """SOURCE_DATE_EPOCH, else the time of the repository's last commit,
    else DEFAULT_EPOCH (a source tree outside git)."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not value:
        out = subprocess.run(["git", "log", "-1", "--format=%ct"], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)))
        value = out.stdout.strip() if out.returncode == 0 else ""
        if not value:
            return DEFAULT_EPOCH
    try:
        return int(value)
    except ValueError:
        raise ArchiveError(f"SOURCE_DATE_EPOCH is not an integer: {value!r}") from None


def _entries(src_dir):
    """(relative path with '/', absolute path, is_dir, mode) for every entry, sorted."""
    if not os.path.isdir(src_dir):
        raise ArchiveError(f"not a directory: {src_dir}")
    found = []
    for dirpath, dirnames, filenames in os.walk(src_dir):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, src_dir).replace(os.sep, "/")
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode):
                found.append((rel, full, True, 0o755))
            elif stat.S_ISREG(st.st_mode):
                executable = st.st_mode & 0o111
                found.append((rel, full, False, 0o755 if executable else 0o644))
            else:
                raise ArchiveError(f"not a regular file or directory (symlink?): {full}")
    # Sorting the full paths puts "a" before "a/b" and keeps the order
    # independent of the file system's listing order.
    found.sort(key=lambda e: e[0])
    return found


def _listed(src_dir, root, directories):
    """(name in the archive, absolute path, is_dir, mode): the top folder and
    everything under it, or the files alone."""
    listed = [(root, None, True, 0o755)]
    listed += [(f"{root}/{rel}", full, is_dir, mode) for rel, full, is_dir, mode in _entries(src_dir)]
    return [e for e in listed if directories or not e[2]]


def _root_name(src_dir, root):
    name = root if root is not None else os.path.basename(os.path.normpath(src_dir))
    if not name or "/" in name or name in (".", ".."):
        raise ArchiveError(f"bad top folder name: {name!r}")
    return name


def write_tar_gz(src_dir, out_path, root=None, mtime=None, directories=True):
    mtime = source_date_epoch() if mtime is None else int(mtime)
    root = _root_name(src_dir, root)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:

        def add(name, full, is_dir, mode):
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.mode = mode
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if is_dir:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = os.path.getsize(full)
                with open(full, "rb") as f:
                    tar.addfile(info, f)

        for name, full, is_dir, mode in _listed(src_dir, root, directories):
            add(name, full, is_dir, mode)
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as out:
        # filename="" and mtime=0: no name and no time in the gzip header.
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
            gz.write(raw.getvalue())
    os.replace(tmp, out_path)


def write_zip(src_dir, out_path, root=None, mtime=None, directories=True):
    mtime = source_date_epoch() if mtime is None else int(mtime)
    # DOS times count seconds in twos: round down here, so the entries
    # read back with exactly the date_time written.
    date_time = time.gmtime(max(mtime, _ZIP_MIN_EPOCH) // 2 * 2)[:6]
    root = _root_name(src_dir, root)
    tmp = out_path + ".tmp"
    with zipfile.ZipFile(tmp, "w") as zf:

        def add(name, full, is_dir, mode):
            info = zipfile.ZipInfo(name + ("/" if is_dir else ""), date_time=date_time)
            info.create_system = 3  # Unix, so that external_attr's mode is read
            if is_dir:
                info.external_attr = ((stat.S_IFDIR | mode) << 16) | 0x10  # MS-DOS directory bit
                zf.writestr(info, b"")
            else:
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(full, "rb") as f:
                    zf.writestr(info, f.read(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)

        for name, full, is_dir, mode in _listed(src_dir, root, directories):
            add(name, full, is_dir, mode)
    os.replace(tmp, out_path)


def write_archive(src_dir, out_path, root=None, mtime=None, directories=True):
    if out_path.endswith((".tar.gz", ".tgz")):
        write_tar_gz(src_dir, out_path, root=root, mtime=mtime, directories=directories)
    elif out_path.endswith(".zip"):
        write_zip(src_dir, out_path, root=root, mtime=mtime, directories=directories)
    else:
        raise ArchiveError(f"unknown archive format (use .tar.gz, .tgz or .zip): {out_path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src_dir")
    parser.add_argument("out_path")
    parser.add_argument("--root", help="top folder name (default: SRC_DIR's name)")
    parser.add_argument("--mtime", type=int, help="entries' mtime (default: SOURCE_DATE_EPOCH)")
    parser.add_argument("--files-only", action="store_true",
                        help="no directory entries (as npm tarballs and the engines' packages)")
    args = parser.parse_args(argv)
    try:
        write_archive(args.src_dir, args.out_path, root=args.root, mtime=args.mtime,
                      directories=not args.files_only)
    except (ArchiveError, OSError) as e:
        print(f"archive.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
