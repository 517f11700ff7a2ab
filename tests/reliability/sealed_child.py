"""Child of test_encryption: streams hits that carry a marker into an
encrypted store in required mode and prints each acknowledged one (its k)
at once, until killed.

usage: sealed_child.py ENDPOINT STORAGE_DIR KEY MARKER FIRST_K"""

import ctypes
import json
import os
import sys
import time

import rel
import offtrack as ot

LIMITS = {"max_queue_bytes": 1 << 32, "max_queue_hits": 1 << 30}


def main():
    endpoint, storage, key, marker, k = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    lib = ot.load()
    # A fast machine acknowledges tens of thousands of hits per run; past
    # the default limits (50 MiB, 100,000 hits) the oldest would be evicted
    # (rightly, with DROPPED events), which the test could not tell from loss.
    cfg = rel.config(endpoint, storage="required", storage_path=storage, encryption_key=key, **LIMITS)
    rc, handle, err = ot.create_raw(lib, json.dumps(cfg))
    if rc != ot.OK:
        os.write(2, f"create failed rc={rc}: {err}\n".encode())
        sys.exit(3)
    os.write(1, b"ready\n")
    pad = "p" * 700
    i = 0
    while True:
        rc = lib.tracker_send(handle, f"k={k}&who={marker}&pad={pad}".encode())
        if rc == ot.OK:
            # One write(2) per acknowledgement: nothing sits in a buffer when the kill comes.
            os.write(1, f"{k}\n".encode())
        else:
            os.write(2, f"send k={k} rc={rc}: {ot.last_error(lib)}\n".encode())
        k += 1
        i += 1
        # Vary what is in progress when the kill lands: syncs and memtable
        # flushes into tables (about 1 MiB of hits each).
        if i % 211 == 0:
            lib.tracker_flush(handle, ctypes.c_uint32(200))
        if i % 50 == 0:
            time.sleep(0.001)


if __name__ == "__main__":
    main()
