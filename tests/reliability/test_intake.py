"""The intake files (docs/queue.md "The intake"): in required/always mode
tracker_send appends each hit to storage_path/intake-0 or intake-1 with one
write() and returns; the worker moves them into fjall and empties the file.
Hits only in the intake at a kill -9 must come back at the next open, a torn
tail must be ignored without a store reset, and a clean close, an opt-out
purge or an offline delete must leave both files empty.

Run as a script (`test_intake.py child ENDPOINT STORAGE_DIR N`) this file is
the child process that sends N hits and waits to be killed."""

import ctypes
import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

import rel
import offtrack as ot

N = 300
DEAD = "http://127.0.0.1:9/hit"  # never contacted: always mode, no dispatch

# Entry header: payload length u32, xxh3-64 checksum u64, id u64 (little-endian).
ENTRY_HEADER = struct.Struct("<IQQ")
# Record header: version u8, flags u8, attempts u32, created_ms u64, position u64, offset u64.
RECORD_HEADER = struct.Struct("<BBIQQQ")


def intake_paths(store):
    return [store / "intake-0", store / "intake-1"]


def intake_sizes(store):
    """Bytes in use in each intake file: up to its last non-zero byte. The
    library keeps each file's first MiB allocated and mapped, and empties a
    file by zeroing what was written (cutting anything past that), so an
    empty intake file reads as zeros."""
    return [len(p.read_bytes().rstrip(b"\0")) for p in intake_paths(store)]


def entries_end(data):
    """Offset just past the last entry `read_entries` accepts: where a torn
    write would have left its bytes."""
    at = 0
    for _ in read_entries(data):
        length = ENTRY_HEADER.unpack_from(data, at)[0]
        at += ENTRY_HEADER.size + length
    return at


def read_entries(data):
    """Entries of one intake file, read by their length fields only (the
    checksum is not verified here): [(id, url)], up to the first entry that
    does not fit or does not look like a record. For diagnostics and to find
    the last id; the library's own reading is what the tests judge."""
    out, at = [], 0
    while at + ENTRY_HEADER.size <= len(data):
        length, _sum, hid = ENTRY_HEADER.unpack_from(data, at)
        start = at + ENTRY_HEADER.size
        if length < RECORD_HEADER.size or start + length > len(data):
            break
        payload = data[start:start + length]
        if payload[0] != 1:
            break
        out.append((hid, payload[RECORD_HEADER.size:].decode("utf-8", "replace")))
        at = start + length
    return out


def intake_snapshot(store):
    """{file name: (size, [(id, url)])} of both intake files."""
    snap = {}
    for p in intake_paths(store):
        data = p.read_bytes()
        snap[p.name] = (len(data), read_entries(data))
    return snap


def _describe(snap):
    return {name: (size, len(entries), [ot.url_param(u, "n") for _, u in entries[:3]])
            for name, (size, entries) in snap.items()}


def _probe(cfg, *hits, timeout=60):
    """Opens the store in a child process (a crash cannot take the run down)."""
    proc = rel.run_child("probe_child.py", [json.dumps(cfg), *hits], timeout)
    assert proc.returncode == 0, f"probe crashed (rc={proc.returncode}):\n{proc.stderr[-4000:]}"
    return rel.last_json_line(proc.stdout)


def _ns(hits):
    return [int(ot.url_param(h, "n")) for h in hits]


def _damaged(store):
    return sorted(d for d in os.listdir(store) if d.startswith("damaged-"))


# ------------------------------------------------------------- the child


def _child_main(endpoint, storage, n, pad=0, hold_worker=False):
    lib = ot.load()
    cfg = rel.config(endpoint, storage="always", storage_path=storage)
    rc, handle, err = ot.create_raw(lib, json.dumps(cfg))
    if rc != ot.OK:
        os.write(2, f"create failed rc={rc}: {err}\n".encode())
        sys.exit(3)
    if hold_worker:
        # A callback that never returns holds the worker in its first event
        # (the STORED of a first hit, which is then deleted), before it can
        # move any of the hits below out of the intake: the kill finds them
        # there however the machine schedules the two threads. Sends and
        # the delete do not wait for the worker.
        held, never = threading.Event(), threading.Event()

        def hold(_ev, _ud):
            held.set()
            never.wait()

        callback = ot.EVENT_CALLBACK(hold)
        steps = [lib.tracker_set_event_callback(handle, callback, None), lib.tracker_send(handle, b"n=-1")]
        deleted = ctypes.c_uint64(0)
        if steps != [ot.OK, ot.OK] or not held.wait(30) \
                or lib.tracker_offline_delete(handle, ctypes.byref(deleted)) != ot.OK or deleted.value != 1:
            os.write(2, f"holding the worker failed: {steps}, {deleted.value}: {ot.last_error(lib)}\n".encode())
            sys.exit(5)
    padding = "&p=" + "x" * pad if pad else ""
    hits = [f"n={i}{padding}".encode() for i in range(n)]
    send = lib.tracker_send
    for hit in hits:
        rc = send(handle, hit)
        if rc != ot.OK:
            os.write(2, f"send {hit!r} rc={rc}: {ot.last_error(lib)}\n".encode())
            sys.exit(4)
    # Every send returned OK: from here on a kill must lose nothing. The
    # child kills itself at once: a kill sent by the parent comes only when
    # the parent is next scheduled, and on a loaded machine the worker has
    # moved every hit into fjall by then (the intake is what is tested).
    os.write(1, b"READY\n")
    os.kill(os.getpid(), signal.SIGKILL)


def _crash_after_sends(endpoint, store, n, timeout=30, pad=0, hold_worker=False):
    """Runs the child, which SIGKILLs itself as soon as it has printed READY
    (the parent kills it too, should it still run), and returns
    (time before start, time of the kill, intake snapshot right after the kill)."""
    cmd = [sys.executable, os.path.abspath(__file__), "child", endpoint, os.fspath(store), str(n), str(pad),
           "hold" if hold_worker else "free"]
    started = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=rel.child_env())
    out = b""
    try:
        deadline = time.monotonic() + timeout
        while b"READY\n" not in out:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break  # the child ended by itself
            out += chunk
        if b"READY\n" in out:
            proc.send_signal(signal.SIGKILL)
        killed = time.time()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        err = proc.stderr.read().decode(errors="replace")
        proc.stdout.close()
        proc.stderr.close()
    assert b"READY\n" in out, f"child never acknowledged all {n} hits (rc={proc.returncode}):\n{err[-4000:]}"
    assert proc.returncode == -signal.SIGKILL, f"child ended with rc={proc.returncode}:\n{err[-4000:]}"
    return started, killed, intake_snapshot(store)


def _crash_with_hits_in_intake(endpoint, base, n, attempts=5, pad=0):
    """_crash_after_sends until the kill leaves hits in an intake file (the
    worker may, on a loaded machine, have moved them all before the kill);
    each attempt in a fresh storage directory; after the first, the child
    holds its worker (see _child_main) so that the hits stay in the intake.
    Returns (store, started, killed, snap)."""
    tried = []
    for attempt in range(attempts):
        store = base / f"store-{attempt}"
        started, killed, snap = _crash_after_sends(endpoint, store, n, pad=pad, hold_worker=attempt > 0)
        if any(entries for _, entries in snap.values()):
            return store, started, killed, snap
        tried.append(_describe(snap))
    raise AssertionError(f"in {attempts} kills right after the sends, the intake never held a hit: {tried}")


# ------------------------------------------------------------- crash with hits in the intake


def test_kill9_after_a_flood_across_the_mapped_window_loses_nothing(collector, tmp_path, make_tracker):
    """12 MB of hits as fast as ctypes sends them: appends cross many of the
    window's chunks (prepared by the worker or by the send itself), files
    switch and are emptied meanwhile; a kill right after the last send
    loses none of them and the replay keeps their order."""
    n, pad = 12_000, 1000
    collector.down()
    try:
        storage_dir, _, _, snap = _crash_with_hits_in_intake(collector.endpoint, tmp_path, n, pad=pad)
    finally:
        collector.up()
    where = f"intake at the kill: {_describe(snap)}"
    t = make_tracker(storage="always", storage_path=storage_dir)
    assert t.offline_count() == n, where
    assert t.stats()["store_resets"] == 0
    assert intake_sizes(storage_dir) == [0, 0], where
    assert t.dispatch() == ot.OK
    assert t.flush(timeout_ms=120_000) == ot.OK
    reqs = collector.requests
    assert [r.n for r in reqs] == list(range(n)), f"{len(reqs)} requests; {where}"
    assert all(r.param("p") == "x" * pad for r in reqs)



def test_kill9_right_after_sends_loses_nothing(collector, tmp_path, make_tracker):
    collector.down()
    try:
        storage_dir, started, killed, snap = _crash_with_hits_in_intake(collector.endpoint, tmp_path, N)
    finally:
        collector.up()
    in_intake = sum(len(entries) for _, entries in snap.values())
    where = f"intake at the kill: {_describe(snap)}"

    t = make_tracker(storage="always", storage_path=storage_dir)
    assert t.offline_count() == N, where
    stored = t.offline_get()
    assert _ns([h["hit"] for h in stored]) == list(range(N)), where
    ids = [h["id"] for h in stored]
    assert all(a < b for a, b in zip(ids, ids[1:])), f"ids not strictly increasing: {ids}; {where}"
    for h in stored:
        assert int(started * 1000) - 1 <= h["created"] <= int(killed * 1000) + 1, (h, where)
        assert h["attempts"] == 0, (h, where)
    assert t.stats()["store_resets"] == 0
    # The replay emptied the intake files.
    assert intake_sizes(storage_dir) == [0, 0], where

    assert collector.count == 0, "a hit went out before dispatch (always mode)"
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    reqs = collector.requests
    assert [r.n for r in reqs] == list(range(N)), f"{len(reqs)} requests; {where}"
    for r in reqs:
        ts = r.param("ts")
        assert ts is not None, r.path
        assert int(started) <= int(ts) <= int(killed), r.path
        assert r.params("ts") == [ts], r.path
    assert t.offline_count() == 0
    assert collector.quiet_for(0.3) == [], "a hit was sent twice"
    print(f"test_intake: {in_intake} of {N} hits were still in the intake at the kill: {_describe(snap)}")


# ------------------------------------------------------------- torn tail


def _garbage(kind, last_id):
    rng = random.Random(kind)
    if kind == "torn-header":
        # An entry cut short inside its header.
        return struct.pack("<I", 60) + bytes(rng.randrange(256) for _ in range(7))
    if kind == "torn-payload":
        # A whole header announcing more payload than the file holds.
        url = f"{DEAD}?n=999999".encode()
        payload = RECORD_HEADER.pack(1, 0, 0, int(time.time() * 1000), N, 0) + url
        return ENTRY_HEADER.pack(len(payload), rng.getrandbits(64), last_id + 1) + payload[:-5]
    if kind == "bad-checksum":
        # A complete, well-formed entry for the next id whose checksum is wrong:
        # replay must stop at it rather than take it as a hit.
        url = f"{DEAD}?n=999999".encode()
        payload = RECORD_HEADER.pack(1, 0, 0, int(time.time() * 1000), N, 0) + url
        return ENTRY_HEADER.pack(len(payload), rng.getrandbits(64), last_id + 1) + payload
    if kind == "huge-length":
        return struct.pack("<IQQ", 0xFFFFFFFF, rng.getrandbits(64), last_id + 1) + b"\x01" * 40
    if kind == "random":
        return bytes(rng.randrange(256) for _ in range(257))
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["torn-header", "torn-payload", "bad-checksum", "huge-length", "random"])
def test_torn_intake_tail_is_ignored(tmp_path, kind):
    storage_dir, _started, _killed, snap = _crash_with_hits_in_intake(DEAD, tmp_path, N)
    entries = [e for _, es in snap.values() for e in es]
    last_id = max(hid for hid, _ in entries)
    # The end of every non-empty intake file, as a write cut short by the kill would leave it.
    targets = [name for name, (_size, entries) in snap.items() if entries]
    for name in targets:
        # Right after the last entry, where a write cut short by the kill
        # would have left its bytes (the rest of the file is zeros).
        path = storage_dir / name
        end = entries_end(path.read_bytes())
        with open(path, "r+b") as f:
            f.seek(end)
            f.write(_garbage(kind, last_id))
    where = f"intake at the kill: {_describe(snap)}; garbage appended to {targets}"

    cfg = rel.config(DEAD, storage="always", storage_path=os.fspath(storage_dir))
    out = _probe(cfg, f"n={N}")
    assert out["create"] == ot.OK, (out, where)
    assert out["count_at_open"] == N, (out["count_at_open"], where)
    assert out["stats_at_open"]["store_resets"] == 0, (out["stats_at_open"], where)
    assert out["sends"] == [[ot.OK, ""]], out["sends"]
    assert out["flush"] == ot.OK
    # All acknowledged hits, nothing made up from the garbage, and the store
    # still takes hits after it.
    assert _ns(out["hits"]) == list(range(N + 1)), (out["hits"][-5:], where)
    ids = out["ids"]
    assert all(a < b for a, b in zip(ids, ids[1:])), (ids, where)
    assert out["stats"]["store_resets"] == 0
    assert not _damaged(storage_dir), where
    # The replay emptied both files, garbage included.
    assert intake_sizes(storage_dir) == [0, 0], where
    # And a second open sees the same queue.
    again = _probe(cfg)
    assert again["create"] == ot.OK and again["count_at_open"] == N + 1, again
    assert _ns(again["hits"]) == list(range(N + 1))
    assert again["ids"] == ids


def test_garbage_in_both_empty_intake_files_does_not_break_open(storage_dir):
    """The case where the worker emptied the intake before the kill: garbage alone."""
    cfg = rel.config(DEAD, storage="always", storage_path=os.fspath(storage_dir))
    out = _probe(cfg, *[f"n={i}" for i in range(20)])
    assert out["create"] == ot.OK and out["count"] == 20, out
    assert intake_sizes(storage_dir) == [0, 0]
    for i, p in enumerate(intake_paths(storage_dir)):
        with open(p, "r+b") as f:
            f.write(_garbage(["torn-header", "random"][i], 1 << 40))
    out = _probe(cfg, "n=20")
    assert out["create"] == ot.OK, out
    assert out["count_at_open"] == 20, out
    assert out["stats_at_open"]["store_resets"] == 0, out
    assert _ns(out["hits"]) == list(range(21)), out["hits"]
    assert not _damaged(storage_dir)
    assert intake_sizes(storage_dir) == [0, 0]


# ------------------------------------------------------------- moving and clean close


def test_moved_hits_leave_the_intake_while_open(make_tracker, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    for batch in range(3):
        t.send_n(range(batch * N, (batch + 1) * N))
        assert t.flush() == ot.OK
        # The worker moves them into the database and empties the file they were in.
        rel.wait_until(lambda: intake_sizes(storage_dir) == [0, 0], timeout=2,
                       message=f"both intake files empty after batch {batch}: {intake_sizes(storage_dir)}")
        assert t.offline_count() == (batch + 1) * N
    assert t.offline_ns() == list(range(3 * N))



def test_clean_destroy_leaves_both_intake_files_empty(make_tracker, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n(range(N))
    # Both files exist as soon as the store is open.
    assert all(p.is_file() for p in intake_paths(storage_dir))
    t.destroy()
    assert intake_sizes(storage_dir) == [0, 0]
    assert (storage_dir / "FORMAT").read_text() == "2\n"
    # The hits went into the database, not away.
    out = _probe(rel.config(DEAD, storage="always", storage_path=os.fspath(storage_dir)))
    assert out["create"] == ot.OK and out["count_at_open"] == N, out
    assert intake_sizes(storage_dir) == [0, 0]
    assert (storage_dir / "FORMAT").read_text() == "2\n"


def test_clean_destroy_of_a_fresh_store(make_tracker, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir)
    t.destroy()
    assert intake_sizes(storage_dir) == [0, 0]
    assert (storage_dir / "FORMAT").read_text() == "2\n"


# ------------------------------------------------------------- permissions


def test_intake_files_are_owner_only(storage_dir):
    # Under umask 0: the library must not rely on the process's umask.
    cfg = rel.config(DEAD, storage="always", storage_path=os.fspath(storage_dir))
    proc = rel.run_child("probe_child.py", [json.dumps(cfg), "n=1"], 60, preexec_fn=lambda: os.umask(0))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert rel.last_json_line(proc.stdout)["create"] == ot.OK
    for p in intake_paths(storage_dir):
        st = os.lstat(p)
        assert oct(st.st_mode & 0o777) == oct(0o600), f"{p.name}: mode {oct(st.st_mode)}"
        assert st.st_mode & 0o077 == 0


def test_intake_files_are_owner_only_after_a_crash(storage_dir):
    _crash_after_sends(DEAD, storage_dir, 50)
    for p in intake_paths(storage_dir):
        assert os.lstat(p).st_mode & 0o077 == 0, f"{p.name}: mode {oct(os.lstat(p).st_mode)}"


# ------------------------------------------------------------- purge and delete


@pytest.mark.parametrize("how", ["opt-out", "offline_delete", "offline_delete_older_than"])
def test_purge_empties_the_intake(make_tracker, storage_dir, how):
    marker = "intakemarker"
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n(range(N), m=marker)
    if how == "opt-out":
        assert t.set_opt_out(True) == ot.OK
    elif how == "offline_delete":
        assert t.offline_delete() == N
    else:
        time.sleep(0.01)  # every hit strictly older than the cutoff
        assert t.offline_delete_older_than(0) == N
    assert t.flush() == ot.OK
    assert t.offline_count() == 0
    assert intake_sizes(storage_dir) == [0, 0]
    for p in intake_paths(storage_dir):
        assert marker.encode() not in p.read_bytes()
    dropped = t.recorder.wait_final(range(N))
    assert all(e.kind == ot.EVENT_DROPPED for e in dropped.values())
    if how == "opt-out":
        # Sends while opted out are dropped, never written to the intake.
        t.send_n([N], m=marker)
        assert t.flush() == ot.OK
        assert intake_sizes(storage_dir) == [0, 0]
        assert t.offline_count() == 0


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "child":
        _child_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "hold")
    else:
        sys.exit(f"usage: {sys.argv[0]} child ENDPOINT STORAGE_DIR N PAD hold|free")
