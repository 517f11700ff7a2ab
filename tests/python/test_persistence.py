"""The queue across destroy + create, ids per storage directory, and the directory lock."""

import json
import os
import signal
import stat
import subprocess
import sys

import pytest

import offtrack as ot

HERE = os.path.dirname(os.path.abspath(__file__))


def test_hits_survive_destroy_and_create(make_tracker, collector, storage_dir):
    t1 = make_tracker(storage="always", storage_path=storage_dir)
    t1.send_n([1, 2, 3])
    assert t1.flush() == ot.OK
    first = t1.offline_get()
    t1.destroy()

    t2 = make_tracker(storage="always", storage_path=storage_dir)
    assert t2.offline_get() == first
    t2.send_n([4, 5])
    assert t2.flush() == ot.OK
    items = t2.offline_get()
    assert t2.offline_ns() == [1, 2, 3, 4, 5]
    ids = [i["id"] for i in items]
    assert len(set(ids)) == 5
    assert min(ids[3:]) > max(ids[:3])
    assert t2.dispatch() == ot.OK
    assert t2.flush() == ot.OK
    assert collector.ns() == [1, 2, 3, 4, 5]
    finals = t2.recorder.final_by_n()
    assert {n: e.id for n, e in finals.items()} == {int(ot.url_param(i["hit"], "n")): i["id"] for i in items}
    assert all(e.kind == ot.EVENT_SENT for e in finals.values())


def test_ids_keep_increasing_after_a_drain_and_reopen(make_tracker, collector, storage_dir):
    t1 = make_tracker(storage="always", storage_path=storage_dir)
    t1.send_n([1, 2])
    assert t1.dispatch() == ot.OK
    assert t1.flush() == ot.OK
    used = {e.id for e in t1.recorder.finals()}
    assert len(used) == 2
    t1.destroy()

    t2 = make_tracker(storage="always", storage_path=storage_dir)
    assert t2.offline_count() == 0
    t2.send_n([3])
    assert t2.flush() == ot.OK
    assert t2.offline_oldest()["id"] > max(used)


def test_required_mode_hits_are_delivered_in_the_next_run(make_tracker, collector, storage_dir):
    collector.down()
    t1 = make_tracker(storage="required", storage_path=storage_dir)
    t1.send_n([1, 2, 3])
    assert t1.flush() == ot.OK
    t1.destroy()
    assert t1.recorder.finals() == []
    collector.up()

    t2 = make_tracker(storage="required", storage_path=storage_dir)
    assert t2.set_online(True) == ot.OK
    t2.recorder.wait_final([1, 2, 3])
    assert collector.ns() == [1, 2, 3]
    assert all(e.kind == ot.EVENT_SENT for e in t2.recorder.finals())
    stored_ids = {e.n: e.id for e in t1.recorder.of_kind(ot.EVENT_STORED)}
    assert {e.n: e.id for e in t2.recorder.finals()} == stored_ids


def test_never_mode_leaves_earlier_hits_for_dispatch(make_tracker, collector, storage_dir):
    t1 = make_tracker(storage="always", storage_path=storage_dir)
    t1.send_n([1, 2])
    t1.destroy()
    t2 = make_tracker(storage="never", storage_path=storage_dir)
    t2.send_n([3])
    assert t2.flush() == ot.OK
    assert collector.quiet_for(0.3) == []
    assert collector.ns() == [3]
    assert t2.offline_ns() == [1, 2]
    assert t2.dispatch() == ot.OK
    assert t2.flush() == ot.OK
    assert collector.ns() == [3, 1, 2]


def test_storage_directory_is_created_owner_only(make_tracker, storage_dir):
    assert not storage_dir.exists()
    make_tracker(storage="required", storage_path=storage_dir)
    assert storage_dir.is_dir()
    assert stat.S_IMODE(os.stat(storage_dir).st_mode) == 0o700


@pytest.mark.parametrize("mode", ["never", "required", "always"])
def test_second_open_of_a_directory_is_locked(lib, make_tracker, tracker_config, storage_dir, mode):
    t1 = make_tracker(storage=mode, storage_path=storage_dir)
    rc, handle, err = ot.create_raw(lib, tracker_config(storage=mode, storage_path=storage_dir))
    if rc == ot.OK:
        lib.tracker_destroy(handle)
    assert rc == ot.ERROR_LOCKED
    assert not handle.value
    assert str(storage_dir) in err
    t1.destroy()
    t2 = make_tracker(storage=mode, storage_path=storage_dir)
    assert t2.get_storage() == {"never": 0, "required": 1, "always": 2}[mode]


def test_immediate_recreate_after_destroy(make_tracker, collector, storage_dir):
    for k in range(1, 6):
        t = make_tracker(storage="always", storage_path=storage_dir)
        assert t.offline_count() == k - 1
        t.send_n([k])
        t.destroy()
    t = make_tracker(storage="always", storage_path=storage_dir)
    assert t.offline_ns() == [1, 2, 3, 4, 5]


CHILD = r"""
import json, sys
import offtrack
lib = offtrack.load()
t = offtrack.Tracker.create(lib, json.loads(sys.argv[1]), record=False)
print("ready", flush=True)
sys.stdin.readline()
t.destroy()
print("closed", flush=True)
"""


def test_directory_is_locked_against_another_process(lib, make_tracker, tracker_config, storage_dir):
    cfg = tracker_config(storage="required", storage_path=storage_dir)
    env = dict(os.environ, OFFTRACK_LIB=ot.library_path(), PYTHONPATH=HERE)
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(cfg)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env, cwd=HERE)
    try:
        assert child.stdout.readline().strip() == "ready"
        rc, handle, err = ot.create_raw(lib, cfg)
        if rc == ot.OK:
            lib.tracker_destroy(handle)
        assert rc == ot.ERROR_LOCKED
        assert str(storage_dir) in err
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "closed"
        assert child.wait(10) == 0
        t = make_tracker(storage="required", storage_path=storage_dir)
        assert t.get_storage() == ot.STORAGE_REQUIRED
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


KILLED_CHILD = r"""
import json, os, signal, sys
import offtrack
lib = offtrack.load()
t = offtrack.Tracker.create(lib, json.loads(sys.argv[1]), record=False)
for k in range(1, int(sys.argv[2]) + 1):
    rc = t.send("n=%d" % k)
    if rc != 0:
        sys.exit("send returned %d" % rc)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("mode", ["required", "always"])
def test_hits_survive_a_killed_process(make_tracker, collector, tracker_config, storage_dir, mode):
    collector.down()
    cfg = tracker_config(storage=mode, storage_path=storage_dir)
    env = dict(os.environ, OFFTRACK_LIB=ot.library_path(), PYTHONPATH=HERE)
    child = subprocess.run([sys.executable, "-c", KILLED_CHILD, json.dumps(cfg), "200"], env=env, cwd=HERE,
                           capture_output=True, text=True, timeout=30)
    assert child.returncode == -signal.SIGKILL, child.stderr
    # The lock died with the process; every hit whose send returned OK is there, in order.
    t = make_tracker(storage="always", storage_path=storage_dir)
    assert t.offline_ns() == list(range(1, 201))
    ids = [i["id"] for i in t.offline_get()]
    assert ids == sorted(set(ids))


def test_ids_are_unique_across_modes_and_runs(make_tracker, collector, storage_dir):
    ids = []
    for run in range(2):
        t = make_tracker(storage="never", storage_path=storage_dir)
        t.send_n([10 * run + 1, 10 * run + 2])
        assert t.flush() == ot.OK
        assert t.set_storage(ot.STORAGE_ALWAYS) == ot.OK
        t.send_n([10 * run + 3])
        assert t.dispatch() == ot.OK
        assert t.flush() == ot.OK
        t.destroy()
        finals = t.recorder.finals()
        assert len(finals) == 3 and all(e.kind == ot.EVENT_SENT for e in finals)
        ids += [e.id for e in finals]
    assert len(set(ids)) == 6, ids
