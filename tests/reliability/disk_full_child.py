"""Disk full in a child process. Mode "tmpfs": the store lives on a small
tmpfs and a filler file takes the rest of it; mode "rlimit": RLIMIT_FSIZE is
set to 0 (SIGXFSZ ignored), so every write to a file fails with EFBIG. Then
space returns (filler deleted / limit lifted) and the same tracker must
accept hits again without a restart.

usage: disk_full_child.py MODE STORAGE_DIR [FILLER_PATH]
Prints one JSON line."""

import json
import os
import resource
import signal
import sys

import rel
import offtrack as ot

PAD = "p" * 400


def fill(path):
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError:
                break
        while True:  # the last partial page
            try:
                f.write(b"\0")
            except OSError:
                break


def main():
    mode, storage = sys.argv[1], sys.argv[2]
    filler = sys.argv[3] if len(sys.argv) > 3 else None
    lib = ot.load()
    t = ot.Tracker.create(lib, rel.config("http://127.0.0.1:9/hit", storage="always", storage_path=storage))
    out = {"mode": mode}
    accepted, refused = [], []
    n = 0

    def send():
        nonlocal n
        n += 1
        rc = t.send(f"n={n}&pad={PAD}")
        (accepted if rc == ot.OK else refused).append(n)
        return rc, (ot.last_error(lib) if rc else "")

    for _ in range(20):
        assert send()[0] == ot.OK
    assert t.flush() == ot.OK

    # The disk fills up.
    if mode == "tmpfs":
        fill(filler)
    else:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    # Sends are accepted while the intake's preallocated space lasts (its
    # mapped part, about 1 MiB per file); then the disk refuses them.
    codes = []
    first_error = ""
    while len(codes) < 20000 and codes[-5:].count(ot.ERROR_STORAGE) < 5:
        rc, err = send()
        codes.append(rc)
        if rc != ot.OK and not first_error:
            first_error = err
    out["while_full"] = {"sent": len(codes), "ok": codes.count(ot.OK), "storage_errors": codes.count(ot.ERROR_STORAGE),
                         "other": sorted({c for c in codes if c not in (ot.OK, ot.ERROR_STORAGE)}),
                         "first_error": first_error,
                         "ok_after_first_error": sum(1 for i, c in enumerate(codes)
                                                     if c == ot.OK and ot.ERROR_STORAGE in codes[:i])}
    # Queries keep working while the disk is full.
    out["count_while_full"] = t.offline_count()

    # Space returns.
    if mode == "tmpfs":
        os.remove(filler)
    else:
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    calls_to_recover = None
    for i in range(1, 51):
        rc, err = send()
        if rc == ot.OK:
            calls_to_recover = i
            break
        out.setdefault("errors_after_space_returned", []).append(err)
    out["calls_to_recover"] = calls_to_recover
    for _ in range(10):
        send()
    out["flush"] = t.flush()
    stored = t.offline_ns()
    t.destroy()
    # Refused hits got no event; accepted ones are all still stored, across a restart.
    refused_ns = set(refused)
    out["events_for_refused"] = sum(1 for e in t.recorder.events if t.recorder.n_of(e) in refused_ns)
    t2 = ot.Tracker.create(lib, rel.config("http://127.0.0.1:9/hit", storage="always", storage_path=storage))
    after_restart = t2.offline_ns()
    t2.destroy()
    out.update(accepted=accepted, refused=refused, stored=stored, after_restart=after_restart)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
