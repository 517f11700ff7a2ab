"""FIFO delivery: stored hits go oldest first and a new hit never overtakes them."""

import threading

import offtrack as ot


def test_new_hit_never_overtakes_stored_ones(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir)
    t.send_n(range(1, 6))
    assert t.flush() == ot.OK
    assert t.offline_ns() == [1, 2, 3, 4, 5]
    collector.up()
    t.send_n([6])
    collector.wait_for(6)
    t.recorder.wait_final(range(1, 7))
    assert collector.quiet_for(0.2) == []
    assert collector.ns() == [1, 2, 3, 4, 5, 6]
    assert t.offline_count() == 0


def test_hit_sent_after_a_retryable_failure_waits_behind_it(make_tracker, collector, storage_dir):
    collector.script(500)
    t = make_tracker(storage="required", storage_path=storage_dir)
    t.send_n([1])
    collector.wait_for(1)
    t.send_n([2])
    collector.wait_for(3)
    t.recorder.wait_final([1, 2])
    assert collector.quiet_for(0.2) == []
    assert collector.ns() == [1, 1, 2]
    assert t.recorder.kinds_by_n() == {1: ["STORED", "SENT"], 2: ["STORED", "SENT"]} or \
        t.recorder.kinds_by_n() == {1: ["STORED", "SENT"], 2: ["SENT"]}


def test_backlog_drains_in_order_while_new_hits_arrive(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir)
    t.send_n(range(1, 101))
    assert t.flush() == ot.OK
    assert t.offline_count() == 100
    collector.up()
    assert t.set_online(True) == ot.OK
    for n in range(101, 151):
        t.send_n([n])
    collector.wait_for(150, timeout=30)
    t.recorder.wait_final(range(1, 151), timeout=10)
    assert collector.quiet_for(0.2) == []
    assert collector.ns() == list(range(1, 151))
    assert all(e.kind == ot.EVENT_SENT for e in t.recorder.finals())
    assert t.offline_count() == 0


def test_always_mode_dispatch_delivers_oldest_first(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n(range(1, 31))
    assert t.flush() == ot.OK
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.ns() == list(range(1, 31))


def test_concurrent_senders_keep_their_own_order(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir)
    barrier = threading.Barrier(4)
    errors = []

    def sender(k):
        try:
            barrier.wait()
            for i in range(25):
                rc = t.send(f"n={k * 100 + i}")
                if rc != ot.OK:
                    errors.append((k, i, rc))
        except BaseException as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert t.flush() == ot.OK
    collector.wait_for(100, timeout=20)
    ns = collector.ns()
    assert sorted(ns) == sorted(k * 100 + i for k in range(4) for i in range(25))
    for k in range(4):
        mine = [n for n in ns if n // 100 == k]
        assert mine == [k * 100 + i for i in range(25)]
    ids = [e.id for e in t.recorder.finals()]
    assert len(set(ids)) == 100
