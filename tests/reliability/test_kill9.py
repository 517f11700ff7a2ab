"""kill -9 at random moments while a child process streams hits in required
mode (collector down or flapping); every acknowledged hit must arrive after a
restart on the same directory."""

import functools
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import rel
import offtrack as ot

KILLS = int(os.environ.get("OFFTRACK_KILLS", "200" if rel.SOAK else "20"))


class Flapper:
    """Takes the collector down and up every 50-200 ms while running."""

    def __init__(self, collector, rng):
        self.collector, self.rng = collector, rng
        self.stop_event = threading.Event()
        self.flips = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_event.wait(self.rng.uniform(0.05, 0.2)):
            if self.collector.is_up:
                self.collector.down()
            else:
                self.collector.up()
            self.flips += 1

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.thread.join(5)
        self.collector.up()


def _run_child(endpoint, storage, first_k, kill_after, limit=None, pad=None, min_acked=0):
    """Runs kill_child.py and SIGKILLs it `kill_after` seconds after it
    started, or after it acknowledged `min_acked` hits (so a slow start on a
    busy machine cannot leave a run with too few hits to mean anything)."""
    cmd = [sys.executable, os.path.join(rel.HERE, "kill_child.py"), endpoint, str(storage), str(first_k)]
    cmd += [str(limit)] if limit else []
    cmd += [str(pad)] if pad else []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=rel.child_env())
    chunks, errs = [], []
    enough = threading.Event()

    def read_out():
        acked = 0
        for raw in proc.stdout:
            chunks.append(raw)
            if raw.endswith(b"\n") and raw[:-1].isdigit():
                acked += 1
                if acked >= min_acked:
                    enough.set()
        enough.set()  # the child ended by itself

    readers = [threading.Thread(target=read_out, daemon=True),
               threading.Thread(target=lambda: errs.append(proc.stderr.read()), daemon=True)]
    for r in readers:
        r.start()
    if min_acked:
        enough.wait(60)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    for r in readers:
        r.join(10)
    out = b"".join(chunks).decode()
    lines = out.split("\n")
    complete = lines[:-1]  # a line without its newline was not fully written
    acked = [int(x) for x in complete if x.isdigit()]
    return proc.returncode, acked, "ready" in complete, b"".join(errs).decode()


@pytest.mark.timeout(KILLS * 4 + 180)
def test_kill9_loses_no_acknowledged_hit(lib, collector, storage_dir):
    rel.run_seeded(_kill9_loses_no_acknowledged_hit, lib, collector, storage_dir)


def _kill9_loses_no_acknowledged_hit(lib, collector, storage_dir, rng):
    acked_all = []
    killed = 0
    before_ready = 0
    send_errors = []
    for run in range(KILLS):
        flapping = run % 2 == 1
        if flapping:
            flapper = Flapper(collector, rng).start()
        else:
            collector.down()
        try:
            # Early kills land during start-up and store opening, later ones mid-stream.
            kill_after = rng.choice([rng.uniform(0.0, 0.3), rng.uniform(0.3, 1.2)])
            rc, acked, ready, err = _run_child(collector.endpoint, storage_dir, run * 1_000_000, kill_after)
        finally:
            if flapping:
                flapper.stop()
            else:
                collector.up()
        assert rc == -signal.SIGKILL, f"run {run}: child ended by itself (rc={rc}) before the kill:\n{err[-3000:]}"
        assert "create failed" not in err, f"run {run}: {err[-3000:]}"
        send_errors += [line for line in err.splitlines() if line.startswith("send ")]
        killed += 1
        before_ready += not ready
        acked_all += acked

    # Restart on the same directory with the collector up, dispatch, drain.
    t = ot.Tracker.create(lib, rel.config(collector.endpoint, storage="required",
                                          storage_path=os.fspath(storage_dir), id_param="hid"))
    try:
        assert t.dispatch() == ot.OK
        ot.wait_until(lambda: t.offline_count() == 0, timeout=120, interval=0.1,
                      message="the stored queue to drain after the kills")
        assert t.flush(10000) == ot.OK
        stats = t.stats()
    finally:
        t.destroy()
    assert not t.recorder.errors, t.recorder.errors

    arrivals = [(r.param("k"), r.param("hid")) for r in collector.requests if r.param("k") is not None]
    ks = [int(k) for k, _ in arrivals]
    arrived = set(ks)
    lost = sorted(set(acked_all) - arrived)
    duplicates = len(ks) - len(arrived)
    unacked_delivered = len(arrived - set(acked_all))
    # Ids are unique per storage directory, also across crashes.
    hid_to_k = {}
    id_clashes = [(hid, k) for k, hid in arrivals if hid_to_k.setdefault(hid, k) != k]
    rel.figure("kill9", kills=killed, killed_before_ready=before_ready, acknowledged=len(acked_all),
               arrived=len(arrived), lost=len(lost), duplicates=duplicates,
               delivered_unacknowledged=unacked_delivered, send_errors=len(send_errors),
               store_resets=stats["store_resets"])
    assert killed >= 20 or KILLS < 20
    assert acked_all, "no hit was acknowledged in any run"
    assert not lost, f"{len(lost)} acknowledged hits never arrived, e.g. {lost[:20]}"
    assert not id_clashes, f"one id carried by different hits: {id_clashes[:10]}"
    assert stats["store_resets"] == 0
    assert not send_errors, send_errors[:10]


FULL_KILLS = int(os.environ.get("OFFTRACK_FULL_QUEUE_KILLS", "60" if rel.SOAK else "20"))


@pytest.mark.timeout(FULL_KILLS * 4 + 60)
@pytest.mark.parametrize("pad", [None, 600], ids=["small-hits", "flood-of-large-hits"])
def test_kill9_at_a_full_queue_keeps_exactly_the_newest(lib, collector, tmp_path, pad):
    """The queue is at max_queue_hits and every send pushes the oldest out
    (the worker evicts, docs/queue.md "Queue limits"); a kill at a random moment,
    then a reopen with the same limit: the queue holds exactly the newest
    acknowledged hits up to the limit, in order (plus, at its end, the one
    hit whose send the kill cut, if it got in). With large hits and no
    pause the sends outrun the worker's moves into the store, which then
    drop whole batches unwritten."""
    rel.run_seeded(functools.partial(_kill9_at_a_full_queue, pad=pad), lib, collector, tmp_path)


def _kill9_at_a_full_queue(lib, collector, tmp_path, rng, pad=None):
    limit = 300
    collector.down()
    exact = cut_send_kept = 0
    try:
        for run in range(FULL_KILLS):
            storage = tmp_path / f"store{run}"
            first_k = run * 1_000_000
            rc, acked, ready, err = _run_child(collector.endpoint, storage, first_k,
                                               rng.uniform(0.0, 0.8), limit, pad, min_acked=limit + 1)
            assert rc == -signal.SIGKILL, f"run {run}: child ended by itself (rc={rc}):\n{err[-3000:]}"
            assert "create failed" not in err and "send " not in err, f"run {run}: {err[-3000:]}"
            assert len(acked) > limit, f"run {run}: only {len(acked)} hits before the kill"
            t = ot.Tracker.create(lib, rel.config(collector.endpoint, storage="required",
                                                  storage_path=os.fspath(storage), max_queue_hits=limit))
            try:
                stored = [int(ot.url_param(h["hit"], "k")) for h in t.offline_get()]
                count = t.offline_count()
            finally:
                t.destroy()
            newest = acked[-limit:]
            with_cut = (acked + [acked[-1] + 1])[-limit:]
            assert stored in (newest, with_cut), (
                f"run {run}: {len(acked)} acknowledged, last {acked[-3:]}; stored {len(stored)}: "
                f"first {stored[:3]} last {stored[-3:]}; missing {sorted(set(newest) - set(stored))[:10]}")
            assert count == limit
            exact += stored == newest
            cut_send_kept += stored == with_cut and stored != newest
    finally:
        collector.up()
    rel.figure("kill9_full_queue", hits="large" if pad else "small", kills=FULL_KILLS, limit=limit, exactly_newest=exact,
               with_the_cut_send=cut_send_kept)
