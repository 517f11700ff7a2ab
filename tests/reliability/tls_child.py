"""Child of test_tls: one tracker against an HTTPS collector, in a process of
its own (the HTTP client builds its TLS configuration once per process).

usage: tls_child.py ENDPOINT MODE STORAGE_DIR
Prints one JSON line."""

import json
import sys
import time

import rel
import offtrack as ot


def main():
    endpoint, mode, storage = sys.argv[1:4]
    lib = ot.load()
    t = ot.Tracker.create(lib, rel.config(endpoint, storage=mode, storage_path=storage, request_timeout_seconds=3))
    rc = t.send("tls=1")
    flushed = t.flush(10000)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not t.recorder.events:
        time.sleep(0.02)
    out = {"send": rc, "flush": flushed, "count": t.offline_count(), "stats": t.stats(),
           "events": [[e.kind_name, e.http_status, e.reason] for e in t.recorder.events]}
    t.destroy()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
