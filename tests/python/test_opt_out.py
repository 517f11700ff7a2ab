"""Privacy opt-out, the older name of consent denied: hits refused (reason "consent denied"),
queue purged, choice remembered per storage directory."""

import offtrack as ot


def test_opted_out_hits_are_dropped(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir)
    assert t.set_opt_out(True) == ot.OK
    assert t.send("n=1") == ot.OK
    assert t.flush() == ot.OK
    final = t.recorder.wait_final([1])[1]
    assert final.kind == ot.EVENT_DROPPED
    assert final.reason == "consent denied"
    assert t.recorder.of_kind(ot.EVENT_STORED) == []
    assert collector.quiet_for(0.2) == []
    assert t.offline_count() == 0
    assert t.stats()["opt_out"] is True


def test_opt_out_purges_the_stored_queue(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n([1, 2, 3])
    assert t.flush() == ot.OK
    assert t.set_opt_out(True) == ot.OK
    ot.wait_until(lambda: t.offline_count() == 0, message="queue purged")
    finals = t.recorder.wait_final([1, 2, 3])
    assert all(e.kind == ot.EVENT_DROPPED for e in finals.values())
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.count == 0


def test_opt_out_is_remembered_across_runs_until_lifted(make_tracker, collector, storage_dir):
    t1 = make_tracker(storage="required", storage_path=storage_dir)
    assert t1.set_opt_out(True) == ot.OK
    t1.destroy()

    t2 = make_tracker(storage="required", storage_path=storage_dir)
    assert t2.stats()["opt_out"] is True
    t2.send_ok("n=1")
    final = t2.recorder.wait_final([1])[1]
    assert final.kind == ot.EVENT_DROPPED and final.reason == "consent denied"
    assert t2.set_opt_out(False) == ot.OK
    t2.send_ok("n=2")
    assert t2.flush() == ot.OK
    assert t2.recorder.final_by_n()[2].kind == ot.EVENT_SENT
    t2.destroy()

    t3 = make_tracker(storage="required", storage_path=storage_dir)
    assert t3.stats()["opt_out"] is False
    t3.send_ok("n=3")
    assert t3.flush() == ot.OK
    assert collector.ns() == [2, 3]


def test_opt_out_without_storage_path(make_tracker, collector):
    t = make_tracker()
    assert t.set_opt_out(True) == ot.OK
    t.send_ok("n=1")
    assert t.flush() == ot.OK
    assert t.recorder.wait_final([1])[1].reason == "consent denied"
    assert t.set_opt_out(False) == ot.OK
    t.send_ok("n=2")
    assert t.flush() == ot.OK
    assert collector.ns() == [2]
