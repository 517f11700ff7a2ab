"""Helpers of the QA tool's suite: running offtrack-inspect and proving
that it changed nothing in the directory it read."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
for p in (os.path.join(REPO_ROOT, "tests", "python"), os.path.join(REPO_ROOT, "tests", "reliability")):
    if p not in sys.path:
        sys.path.insert(0, p)

import rel  # noqa: E402,F401  (the reliability suite's helpers: configs, kill children)

TOOL = os.environ.get("OFFTRACK_INSPECT") or os.path.join(REPO_ROOT, "target", "release", "offtrack-inspect")

# Exit codes (inspect/src/main.rs, `Refusal`).
OK, FAILED, USAGE, NOT_A_STORE, LOCKED, NEWER_FORMAT, KEY_NEEDED, WRONG_KEY, DAMAGED = range(9)


def tree(root):
    """{relative path: (mode, size, bytes) of a file, or "dir"}: everything
    under root, to prove nothing was changed, added or removed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = (st.st_mode, st.st_size, f.read())
    return out


def assert_same_tree(before, after):
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    assert not (added or removed or changed), f"added {added}, removed {removed}, changed {changed}"


class Run:
    def __init__(self, proc):
        self.rc, self.out, self.err = proc.returncode, proc.stdout, proc.stderr

    @property
    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"rc={self.rc}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def run(path, *args, extra_env=None):
    """Runs the tool on `path` (environment without a key unless
    `extra_env` gives one) and asserts that nothing under it changed (when
    it exists); returns the Run."""
    before = tree(path) if os.path.isdir(path) else None
    environ = dict(os.environ)
    environ.pop("OFFTRACK_ENCRYPTION_KEY", None)
    environ.update(extra_env or {})
    proc = subprocess.run([TOOL, *map(str, args), str(path)], capture_output=True, text=True,
                          timeout=60, env=environ)
    if before is not None:
        assert_same_tree(before, tree(path))
    return Run(proc)


def run_json(path, *args, **kwargs):
    r = run(path, "--json", *args, **kwargs)
    try:
        return r, r.json
    except ValueError:
        raise AssertionError(f"not one JSON object: {r!r}") from None
