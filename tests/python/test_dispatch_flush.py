"""tracker_dispatch, tracker_flush and send_interval_ms."""

import time

import offtrack as ot


def test_dispatch_drains_everything_in_order_then_goes_quiet(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n(range(1, 21))
    assert t.flush() == ot.OK
    assert t.dispatch() == ot.OK
    # flush waits for an earlier dispatch in full.
    assert t.flush() == ot.OK
    assert collector.ns() == list(range(1, 21))
    assert t.offline_count() == 0
    finals = t.recorder.final_by_n()
    assert sorted(finals) == list(range(1, 21))
    assert all(e.kind == ot.EVENT_SENT for e in finals.values())
    t.send_n([21])
    assert t.flush() == ot.OK
    assert collector.quiet_for(0.3) == []
    assert collector.count == 20
    assert t.offline_ns() == [21]


def test_dispatch_returns_at_once_with_a_hanging_collector(make_tracker, collector, storage_dir):
    collector.set_hang()
    t = make_tracker(storage="always", storage_path=storage_dir, request_timeout_seconds=5,
                     shutdown_timeout_ms=300)
    t.send_n([1, 2, 3])
    assert t.flush() == ot.OK
    started = time.monotonic()
    assert t.dispatch() == ot.OK
    assert time.monotonic() - started < 0.25
    collector.wait_for(1)
    assert collector.ns() == [1]


def test_dispatch_on_an_empty_queue(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.count == 0
    assert t.events == []


def test_dispatch_without_storage(make_tracker, collector):
    t = make_tracker()
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.count == 0


def test_dispatch_in_always_mode_keeps_unreachable_hits(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n([1, 2])
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert t.offline_ns() == [1, 2]
    assert t.recorder.finals() == []
    collector.up()
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.ns() == [1, 2]
    assert t.offline_count() == 0


def test_send_interval_spaces_requests(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir, send_interval_ms=150)
    t.send_n([1, 2, 3, 4])
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    reqs = collector.requests
    assert [r.n for r in reqs] == [1, 2, 3, 4]
    gaps = [b.mono - a.mono for a, b in zip(reqs, reqs[1:])]
    assert all(g >= 0.13 for g in gaps), gaps


def test_flush_waits_for_earlier_sends(make_tracker, collector):
    t = make_tracker()
    t.send_n(range(1, 11))
    assert t.flush() == ot.OK
    assert collector.ns() == list(range(1, 11))
    assert sorted(e.n for e in t.recorder.finals()) == list(range(1, 11))


def test_flush_on_an_idle_tracker_is_quick(make_tracker):
    t = make_tracker()
    started = time.monotonic()
    assert t.flush(1000) == ot.OK
    assert time.monotonic() - started < 0.5


def test_flush_times_out_with_a_hanging_collector(make_tracker, collector):
    collector.set_hang()
    t = make_tracker(request_timeout_seconds=10, shutdown_timeout_ms=300)
    t.send_n([1])
    collector.wait_for(1)
    started = time.monotonic()
    assert t.flush(200) == ot.ERROR_TIMEOUT
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed <= 1.0


def test_flush_does_not_start_a_dispatch(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    assert t.flush() == ot.OK
    assert collector.quiet_for(0.3) == []
    assert t.offline_count() == 2


def test_flush_while_offline_returns_after_first_handling(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir)
    t.send_n([1, 2])
    started = time.monotonic()
    assert t.flush(5000) == ot.OK
    assert time.monotonic() - started < 1.5
    assert [e.n for e in t.recorder.of_kind(ot.EVENT_STORED)] == [1, 2]
    assert t.offline_count() == 2


def test_flush_waits_for_an_earlier_dispatch_in_full(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir, send_interval_ms=30)
    t.send_n(range(1, 11))
    assert t.dispatch() == ot.OK
    assert t.flush(10000) == ot.OK
    assert collector.ns() == list(range(1, 11))
    assert len(t.recorder.finals()) == 10
