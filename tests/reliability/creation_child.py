"""Child of test_crash_creation: works a storage directory until it is
SIGKILLed, printing (one write(2) each, so nothing sits in a buffer) what
the parent needs to check afterwards.

usage: creation_child.py create ENDPOINT BASE_DIR FIRST_K
         opens trackers on fresh directories BASE_DIR/d<i> one after the
         other (collector down), sends 3 hits to each and destroys it:
         kills land while the store is being created, opened and closed.
         Prints "dir <i>" before each create, "ack <i> <k>" per hit kept.
       creation_child.py drain ENDPOINT STORAGE_DIR FIRST_K
         one directory in `always` mode: batches of large hits that are
         either dispatched and drained (past the fresh-generation
         threshold) or deleted (which always starts a fresh generation):
         kills land while generations are built and swapped.
         Prints "ack <k>" per hit kept, "deleting <k0> <k1>" before and
         "deleted <k0> <k1>" after a delete of hits k0..k1.
Either mode prints "ready" once the library is loaded; on a failed create
it writes "create failed" with the error to stderr and exits with 3."""

import ctypes
import json
import os
import sys

import rel
import offtrack as ot

PAD = "p" * 6000  # 1 MiB written in ~170 hits: many fresh generations per second
# On a busy machine a run may be killed before its drain gets far, and what
# is left piles up across runs: far above the default 50 MiB, so no hit is
# evicted and every acknowledged one must arrive.
DRAIN_QUEUE_BYTES = 1 << 32


def say(line):
    os.write(1, (line + "\n").encode())


def create(lib, cfg):
    rc, handle, err = ot.create_raw(lib, json.dumps(cfg))
    if rc != ot.OK:
        os.write(2, f"create failed rc={rc}: {err}\n".encode())
        sys.exit(3)
    return handle


def send(lib, handle, hit):
    rc = lib.tracker_send(handle, hit.encode())
    if rc != ot.OK:
        os.write(2, f"send rc={rc}: {ot.last_error(lib)}\n".encode())
    return rc == ot.OK


def run_create(lib, endpoint, base, k):
    i = 0
    say("ready")
    while True:
        path = os.path.join(base, f"d{i}")
        say(f"dir {i}")
        handle = create(lib, rel.config(endpoint, storage="required", storage_path=path, id_param="hid"))
        for _ in range(3):
            if send(lib, handle, f"k={k}"):
                say(f"ack {i} {k}")
            k += 1
        lib.tracker_destroy(handle)
        i += 1


def run_drain(lib, endpoint, path, k):
    handle = create(lib, rel.config(endpoint, storage="always", storage_path=path, id_param="hid",
                                    max_queue_bytes=DRAIN_QUEUE_BYTES))
    say("ready")
    count = ctypes.c_uint64()
    cycle = 0
    while True:
        first = k
        n = 180 if cycle % 2 == 0 else 40
        for _ in range(n):
            if send(lib, handle, f"k={k}&pad={PAD}"):
                say(f"ack {k}")
            k += 1
        if cycle % 2 == 0:
            lib.tracker_dispatch(handle)
            while lib.tracker_offline_count(handle, ctypes.byref(count)) == ot.OK and count.value:
                lib.tracker_flush(handle, ctypes.c_uint32(50))
        else:
            say(f"deleting {first} {k - 1}")
            if lib.tracker_offline_delete(handle, None) == ot.OK:
                say(f"deleted {first} {k - 1}")
            else:
                os.write(2, f"delete failed: {ot.last_error(lib)}\n".encode())
        cycle += 1


def main():
    mode, endpoint, path, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    lib = ot.load()
    if mode == "create":
        run_create(lib, endpoint, path, k)
    else:
        run_drain(lib, endpoint, path, k)


if __name__ == "__main__":
    main()
