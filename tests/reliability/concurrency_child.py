"""Child of test_concurrency: 8 threads send 100k hits in total while another
thread flips the storage mode between required and always and dispatches.
A watchdog (faulthandler) dumps every thread's stack and exits on a deadlock.

usage: concurrency_child.py STORAGE_DIR THREADS HITS_PER_THREAD WATCHDOG_S
Prints one JSON line."""

import faulthandler
import json
import random
import sys
import threading
import time

import rel
import offtrack as ot
from collector import Collector


def main():
    storage, threads, per_thread, watchdog = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    faulthandler.dump_traceback_later(watchdog, exit=True)
    lib = ot.load()
    collector = Collector().start()
    # Queue limits far above the hit count: an eviction would look like a lost hit.
    cfg = rel.config(collector.endpoint, storage="required", storage_path=storage,
                     max_queue_hits=threads * per_thread * 2, max_queue_bytes=1 << 40)
    t = ot.Tracker.create(lib, cfg, record=False)
    accepted = [[] for _ in range(threads)]
    errors = []
    done = threading.Event()
    flips = dispatches = queries = 0

    def sender(i):
        base = i * 10_000_000
        for j in range(per_thread):
            n = base + j
            rc = lib.tracker_send(t.handle, f"n={n}".encode())
            if rc == ot.OK:
                accepted[i].append(n)
            else:
                errors.append((n, rc, ot.last_error(lib)))
            if j % 10 == 9:
                # Spread the hits over a few seconds so flips, dispatches and drains interleave with them.
                time.sleep(0.002)

    def flipper():
        nonlocal flips, dispatches, queries
        rng = random.Random(7)
        mode = ot.STORAGE_ALWAYS
        while not done.is_set():
            assert t.set_storage(mode) == ot.OK
            flips += 1
            mode = ot.STORAGE_REQUIRED if mode == ot.STORAGE_ALWAYS else ot.STORAGE_ALWAYS
            if flips % 3 == 0:
                assert t.dispatch() == ot.OK
                dispatches += 1
            if flips % 5 == 0:
                t.offline_count()
                t.stats()
                queries += 1
            time.sleep(rng.uniform(0.001, 0.01))

    started = time.monotonic()
    workers = [threading.Thread(target=sender, args=(i,)) for i in range(threads)]
    flip = threading.Thread(target=flipper)
    flip.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    send_seconds = time.monotonic() - started
    done.set()
    flip.join()
    t.set_storage(ot.STORAGE_ALWAYS)
    d0 = time.monotonic()
    t.destroy()
    destroy_ms = (time.monotonic() - d0) * 1000
    time.sleep(1.2)  # a request abandoned at destroy finishes (request_timeout_seconds 1)
    t2 = ot.Tracker.create(lib, cfg, record=False)
    stored = t2.offline_ns()
    t2.destroy()
    arrivals = collector.ns()
    collector.stop()
    faulthandler.cancel_dump_traceback_later()
    print(json.dumps({"accepted": accepted, "errors": errors[:20], "error_count": len(errors),
                      "arrivals": arrivals, "stored": stored, "flips": flips, "dispatches": dispatches,
                      "queries": queries, "send_seconds": send_seconds, "destroy_ms": destroy_ms}), flush=True)


if __name__ == "__main__":
    main()
