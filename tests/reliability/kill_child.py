"""Child of test_kill9: streams hits in required mode and prints each
acknowledged one (tracker_send returned TRACKER_OK) at once, until killed.

usage: kill_child.py ENDPOINT STORAGE_DIR FIRST_K [MAX_QUEUE_HITS [PAD]]
(with MAX_QUEUE_HITS: no pause between sends, so the queue stays at its
limit and every send pushes the oldest hit out; with PAD as well, hits carry
PAD bytes of padding and nothing waits for the worker: a flood that outruns
its moves into the store)"""

import ctypes
import json
import os
import sys
import time

import rel
import offtrack as ot


def main():
    endpoint, storage, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
    pad = "&pad=" + "p" * int(sys.argv[5]) if len(sys.argv) > 5 else ""
    lib = ot.load()
    cfg = rel.config(endpoint, storage="required", storage_path=storage, id_param="hid")
    if limit:
        cfg["max_queue_hits"] = limit
    rc, handle, err = ot.create_raw(lib, json.dumps(cfg))
    if rc != ot.OK:
        os.write(2, f"create failed rc={rc}: {err}\n".encode())
        sys.exit(3)
    os.write(1, b"ready\n")
    i = 0
    while True:
        rc = lib.tracker_send(handle, f"k={k}{pad}".encode())
        if rc == ot.OK:
            # One write(2) per acknowledgement: nothing sits in a buffer when the kill comes.
            os.write(1, f"{k}\n".encode())
        else:
            os.write(2, f"send k={k} rc={rc}: {ot.last_error(lib)}\n".encode())
        k += 1
        i += 1
        # Vary what is in progress when the kill lands: syncs, dispatches, drains.
        if i % 97 == 0:
            lib.tracker_dispatch(handle)
        if i % 211 == 0 and not pad:
            lib.tracker_flush(handle, ctypes.c_uint32(200))
        if not limit:
            time.sleep(0.001)


if __name__ == "__main__":
    main()
