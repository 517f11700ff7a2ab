"""tracker_destroy: bounded while a request hangs, fast otherwise, nothing after it returns."""

import time

import offtrack as ot


def test_destroy_is_bounded_while_the_collector_hangs(make_tracker, collector, storage_dir):
    collector.set_hang()
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=10,
                     shutdown_timeout_ms=300)
    t.send_n([1, 2, 3])
    collector.wait_for(1)
    started = time.monotonic()
    t.destroy()
    assert time.monotonic() - started < 0.3 + 0.7
    events_at_destroy = len(t.recorder)
    collector.release(200)
    time.sleep(0.3)
    assert len(t.recorder) == events_at_destroy  # and the recorder flags any late callback
    assert collector.ns() == [1]  # no new request started during shutdown

    # Hits whose delivery was not confirmed stay for the next run.
    t2 = make_tracker(storage="required", storage_path=storage_dir, record=False)
    assert t2.offline_ns() == [1, 2, 3]


def test_destroy_drops_in_memory_hits_in_never_mode(make_tracker, collector):
    collector.set_hang()
    t = make_tracker(request_timeout_seconds=10, shutdown_timeout_ms=300)
    t.send_n([1])
    collector.wait_for(1)
    t.send_n([2, 3])
    started = time.monotonic()
    t.destroy()
    assert time.monotonic() - started < 0.3 + 0.7
    finals = t.recorder.final_by_n()
    assert 2 in finals and 3 in finals, t.recorder.events
    assert finals[2].kind == ot.EVENT_DROPPED and finals[3].kind == ot.EVENT_DROPPED
    collector.release(200)
    time.sleep(0.2)
    assert collector.ns() == [1]


def test_destroy_is_fast_when_idle(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir, shutdown_timeout_ms=5000)
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    started = time.monotonic()
    t.destroy()
    assert time.monotonic() - started < 1.0


def test_destroy_is_fast_when_unreachable(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir, shutdown_timeout_ms=5000,
                     retry_base_ms=20, retry_max_ms=50)
    t.send_n(range(1, 6))
    assert t.flush() == ot.OK
    time.sleep(0.2)  # let the retry timer run
    started = time.monotonic()
    t.destroy()
    assert time.monotonic() - started < 1.0


def test_destroy_is_fast_when_set_offline(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir, shutdown_timeout_ms=5000)
    assert t.set_online(False) == ot.OK
    t.send_n(range(1, 6))
    assert t.flush() == ot.OK
    started = time.monotonic()
    t.destroy()
    assert time.monotonic() - started < 1.0


def test_destroy_right_after_create(make_tracker, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir, shutdown_timeout_ms=5000)
    started = time.monotonic()
    t.destroy()
    assert time.monotonic() - started < 1.0
