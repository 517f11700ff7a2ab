"""Final events at the edges: destroy while a never-mode request hangs, and
tracker_flush returning only once the events owed before it were emitted."""

import time

import offtrack as ot


def test_destroy_reports_the_never_mode_hit_in_flight(make_tracker, collector):
    # Its outcome is unknown and nothing keeps it: without a DROPPED event it
    # would vanish silently.
    collector.set_hang()
    t = make_tracker(request_timeout_seconds=10, shutdown_timeout_ms=300)
    t.send_n([1])
    collector.wait_for(1)
    t.send_n([2, 3])
    started = time.monotonic()
    t.destroy()
    assert time.monotonic() - started < 0.3 + 0.7
    finals = t.recorder.final_by_n()
    assert sorted(finals) == [1, 2, 3], t.recorder.events
    assert all(e.kind == ot.EVENT_DROPPED for e in finals.values()), t.recorder.events
    assert "in flight" in finals[1].reason, finals[1]
    assert t.recorder.check_invariants(require_final_for=[1, 2, 3]) == []
    # Released now, the old request must not produce a second, late event
    # (the recorder is closed and would record the late call as an error).
    collector.release(200)
    time.sleep(0.3)
    assert len(t.recorder.finals()) == 3


def test_flush_returns_after_the_owed_opt_out_events(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir)
    assert t.set_opt_out(True) == ot.OK
    for n in range(1, 51):
        t.send_n([n])
        assert t.flush(5000) == ot.OK
        # No waiting: the DROPPED event was owed before the flush, so it is already there.
        final = t.recorder.final_by_n().get(n)
        assert final is not None and final.kind == ot.EVENT_DROPPED, (n, t.recorder.events[-3:])
        assert final.reason == "consent denied", final
    assert collector.quiet_for(0.2) == []
