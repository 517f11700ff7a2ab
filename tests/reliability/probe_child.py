"""Opens a tracker in a child process (so a crash cannot take the test run
down), optionally sends hits, and prints one JSON line with what it saw.

usage: probe_child.py CONFIG_JSON [HIT ...]"""

import json
import os
import sys

import rel  # noqa: F401
import offtrack as ot


def main():
    cfg = sys.argv[1]
    lib = ot.load()
    uid = os.environ.get("OFFTRACK_PROBE_UID")
    if uid:
        # Root ignores permission bits: drop to an ordinary user once loaded.
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))
    rc, handle, err = ot.create_raw(lib, cfg)
    out = {"create": rc, "create_error": err}
    if rc == ot.OK:
        t = ot.Tracker(lib, handle, json.loads(cfg))
        t.set_callback(ot.EventRecorder())
        out["count_at_open"] = t.offline_count()
        out["stats_at_open"] = t.stats()
        out["sends"] = []
        for hit in sys.argv[2:]:
            rc = t.send(hit)
            out["sends"].append([rc, ot.last_error(lib) if rc else ""])
        if len(sys.argv) > 2:
            out["flush"] = t.flush(5000)
        out["stats"] = t.stats()
        out["count"] = t.offline_count()
        stored = t.offline_get()
        out["hits"] = [h["hit"] for h in stored]
        out["ids"] = [h["id"] for h in stored]
        t.destroy()
        out["events"] = [[e.kind, e.id, e.reason] for e in t.recorder.events]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
