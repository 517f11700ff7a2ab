"""Kill test for the platforms the Python suite cannot drive in-process
(Windows under Wine, aarch64 under qemu-user): tests/c/kill_child streams
hits in required mode with the collector down and is killed at random
moments (SIGKILL of the emulated process: for Wine that is the Windows
process itself, like TerminateProcess/taskkill /F); then the same program
lists the stored queue, which must hold every acknowledged hit, in order.

usage: kill_test.py KILLS STORE_DIR RUNNER... -- EXE
       (RUNNER: e.g. /usr/lib/wine/wine64, or qemu-aarch64 -L /usr/aarch64-linux-gnu)
Randomised: prints its seed; OFFTRACK_SEED replays it."""

import os
import random
import signal
import subprocess
import sys
import threading
import time

DOWN = "http://127.0.0.1:9/hit"  # nothing listens: every hit is stored


def run_and_kill(cmd, kill_after, ready_timeout=60):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines, errs, ready = [], [], threading.Event()

    def read():
        for raw in proc.stdout:
            if raw.endswith(b"\n"):
                line = raw[:-1].decode().strip()  # also drops a CR (Windows)
                lines.append(line)
                if line == "ready":
                    ready.set()
        ready.set()

    threads = [threading.Thread(target=read, daemon=True),
               threading.Thread(target=lambda: errs.append(proc.stderr.read()), daemon=True)]
    for t in threads:
        t.start()
    ready.wait(ready_timeout)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    for t in threads:
        t.join(10)
    return proc.returncode, lines, b"".join(errs).decode(errors="replace")


def main():
    kills, store = int(sys.argv[1]), sys.argv[2]
    sep = sys.argv.index("--")
    runner, exe = sys.argv[3:sep], sys.argv[sep + 1]
    seed = int(os.environ.get("OFFTRACK_SEED", time.time_ns() % 2**32))
    print(f"seed: OFFTRACK_SEED={seed}", flush=True)
    rng = random.Random(seed)
    acked = []
    for run in range(kills):
        rc, lines, err = run_and_kill(runner + [exe, "send", store, DOWN, str(run * 1_000_000)],
                                      rng.uniform(0.1, 1.0))
        if "ready" not in lines or rc != -signal.SIGKILL:
            sys.exit(f"run {run}: the child did not run until killed (rc={rc}): {err[-2000:]} "
                     f"(replay with OFFTRACK_SEED={seed})")
        errors = [line for line in err.splitlines() if line.startswith(("send ", "create failed"))]
        if errors:
            sys.exit(f"run {run}: {errors[:5]} (replay with OFFTRACK_SEED={seed})")
        acked += [int(x) for x in lines if x.lstrip("-").isdigit()]
    out = subprocess.run(runner + [exe, "list", store, DOWN], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        sys.exit(f"list failed (rc={out.returncode}): {out.stderr[-2000:]}")
    stored = [int(x) for x in out.stdout.splitlines() if x.strip().isdigit()]
    counted = [int(x.split()[1]) for x in out.stdout.splitlines() if x.startswith("count ")]
    if counted != [len(stored)]:
        sys.exit(f"list printed {len(stored)} hits but counted {counted}")
    lost = sorted(set(acked) - set(stored))
    in_order = all(a < b for a, b in zip(stored, stored[1:]))
    print(f"FIGURE kill kills={kills} acknowledged={len(acked)} stored={len(stored)} lost={len(lost)} "
          f"in_order={in_order}", flush=True)
    if lost or not acked or not in_order:
        sys.exit(f"lost {len(lost)} acknowledged hits, e.g. {lost[:10]}; in order: {in_order} "
                 f"(replay with OFFTRACK_SEED={seed})")


if __name__ == "__main__":
    main()
