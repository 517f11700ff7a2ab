"""Delivery outcomes (delivered / unreachable / retryable / rejected), backoff and reachability."""

import time
from email.utils import formatdate

import pytest

import offtrack as ot
from collector import Response


# ---------------------------------------------------------------- delivered


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(make_tracker, collector, storage_dir, status):
    collector.set_status(status)
    t = make_tracker(storage="required", storage_path=storage_dir)
    t.send_n([1])
    assert t.flush() == ot.OK
    [sent] = t.recorder.events
    assert (sent.kind, sent.http_status, sent.reason) == (ot.EVENT_SENT, status, "")
    assert collector.ns() == [1]
    assert t.offline_count() == 0


# ---------------------------------------------------------------- rejected


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_other_4xx_is_dropped_at_once(make_tracker, collector, storage_dir, status):
    collector.set_status(status)
    t = make_tracker(storage="required", storage_path=storage_dir, max_attempts=5)
    t.send_n([1])
    assert t.flush() == ot.OK
    [dropped] = t.recorder.events
    assert dropped.kind == ot.EVENT_DROPPED
    assert dropped.http_status == status
    assert dropped.reason
    assert collector.quiet_for(0.3) == []
    assert collector.ns() == [1]
    assert t.offline_count() == 0


# ---------------------------------------------------------------- retryable


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_retryable_status_burns_attempts_then_drops(make_tracker, collector, storage_dir, status):
    collector.set_status(status)
    t = make_tracker(storage="required", storage_path=storage_dir, max_attempts=3)
    t.send_n([1])
    final = t.recorder.wait_final([1])[1]
    assert final.kind == ot.EVENT_DROPPED
    assert final.http_status == status
    assert final.reason
    assert t.recorder.kinds_by_n() == {1: ["STORED", "DROPPED"]}
    stored = t.recorder.of_kind(ot.EVENT_STORED)[0]
    assert stored.http_status == status
    assert collector.quiet_for(0.3) == []
    assert collector.ns() == [1, 1, 1]
    assert t.offline_count() == 0


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
def test_max_attempts_is_the_number_of_answered_failures(make_tracker, collector, storage_dir, max_attempts):
    collector.set_status(500)
    t = make_tracker(storage="required", storage_path=storage_dir, max_attempts=max_attempts)
    t.send_n([1])
    assert t.recorder.wait_final([1])[1].kind == ot.EVENT_DROPPED
    assert collector.quiet_for(0.3) == []
    assert collector.ns() == [1] * max_attempts


def test_retry_then_success(make_tracker, collector, storage_dir):
    collector.script(500, 429)
    t = make_tracker(storage="required", storage_path=storage_dir, max_attempts=3)
    t.send_n([1])
    final = t.recorder.wait_final([1])[1]
    assert (final.kind, final.http_status) == (ot.EVENT_SENT, 200)
    assert collector.ns() == [1, 1, 1]


def test_failed_attempts_are_counted_in_the_store(make_tracker, collector, storage_dir):
    collector.set_status(503, retry_after=30)
    t = make_tracker(storage="required", storage_path=storage_dir, retry_max_ms=60000)
    t.send_n([1])
    t.recorder.wait_for(lambda evs: any(e.kind == ot.EVENT_STORED for e in evs))
    assert t.offline_oldest()["attempts"] == 1


# ---------------------------------------------------------------- Retry-After


def test_retry_after_seconds_pauses_the_whole_queue(make_tracker, collector, storage_dir):
    collector.script(Response(503, {"Retry-After": "1"}))
    t = make_tracker(storage="required", storage_path=storage_dir, retry_max_ms=5000)
    t.send_n([1])
    collector.wait_for(1)
    t.recorder.wait_for(lambda evs: any(e.kind == ot.EVENT_STORED for e in evs))
    t.send_n([2])  # joins the paused queue
    reqs = collector.wait_for(3, timeout=6)
    t.recorder.wait_final([1, 2])
    assert [r.n for r in reqs] == [1, 1, 2]
    assert reqs[1].mono - reqs[0].mono >= 0.9


def test_retry_after_http_date(make_tracker, collector, storage_dir):
    collector.script(Response(503, {"Retry-After": formatdate(time.time() + 2, usegmt=True)}))
    t = make_tracker(storage="required", storage_path=storage_dir, retry_max_ms=5000)
    t.send_n([1])
    reqs = collector.wait_for(2, timeout=6)
    assert [r.n for r in reqs] == [1, 1]
    assert reqs[1].mono - reqs[0].mono >= 0.9


def test_retry_after_is_capped_by_retry_max(make_tracker, collector, storage_dir):
    collector.script(Response(503, {"Retry-After": "30"}))
    t = make_tracker(storage="required", storage_path=storage_dir, retry_max_ms=400)
    t.send_n([1])
    reqs = collector.wait_for(2, timeout=5)
    gap = reqs[1].mono - reqs[0].mono
    assert 0.3 <= gap <= 3.0
    assert t.recorder.wait_final([1])[1].kind == ot.EVENT_SENT


def test_only_dispatch_overrides_retry_after(make_tracker, collector, storage_dir):
    collector.script(Response(503, {"Retry-After": "30"}))
    t = make_tracker(storage="required", storage_path=storage_dir, retry_max_ms=60000)
    t.send_n([1])
    t.recorder.wait_for(lambda evs: any(e.kind == ot.EVENT_STORED for e in evs))
    assert t.set_online(True) == ot.OK
    t.send_n([2])
    assert t.flush() == ot.OK
    assert collector.quiet_for(0.4) == []
    assert collector.ns() == [1]
    assert t.dispatch() == ot.OK
    collector.wait_for(3, timeout=3)
    assert collector.ns() == [1, 1, 2]
    t.recorder.wait_final([1, 2])


# ---------------------------------------------------------------- unreachable


@pytest.mark.parametrize("failure", ["down", "reset", "close"])
def test_unreachable_keeps_the_hit_without_counting_attempts(make_tracker, collector, storage_dir, failure):
    # refused, reset, and closed without any answer (no status line) are all "unreachable".
    {"down": collector.down, "reset": collector.set_reset, "close": collector.set_close}[failure]()
    t = make_tracker(storage="required", storage_path=storage_dir, max_attempts=1,
                     retry_base_ms=20, retry_max_ms=50)
    t.send_n([1])
    assert t.flush() == ot.OK
    [stored] = t.recorder.events
    assert (stored.kind, stored.http_status) == (ot.EVENT_STORED, 0)
    assert stored.reason
    time.sleep(0.5)  # many probes fail meanwhile
    if failure != "down":
        assert collector.connections >= 3
    assert [e.kind for e in t.recorder.events] == [ot.EVENT_STORED]
    [item] = t.offline_get()
    assert item["attempts"] == 0
    assert t.stats()["online"] is False
    collector.up() if failure == "down" else collector.set_ok()
    final = t.recorder.wait_final([1])[1]
    assert final.kind == ot.EVENT_SENT
    assert collector.ns() == [1]
    assert t.offline_count() == 0


@pytest.mark.parametrize("status", [301, 302, 307])
def test_3xx_is_unreachable_and_never_followed(make_tracker, collector, storage_dir, status):
    collector.set_status(status, location=collector.url + "/redirected?n=99")
    t = make_tracker(storage="required", storage_path=storage_dir, max_attempts=1,
                     retry_base_ms=20, retry_max_ms=50)
    t.send_n([1])
    assert t.flush() == ot.OK
    [stored] = t.recorder.events
    assert (stored.kind, stored.http_status) == (ot.EVENT_STORED, status)
    time.sleep(0.4)
    assert [e.kind for e in t.recorder.events] == [ot.EVENT_STORED]
    reqs = collector.requests
    assert len(reqs) >= 2  # still probing, hit kept
    assert all(r.route == "/hit" and r.n == 1 for r in reqs)
    assert t.offline_get()[0]["attempts"] == 0
    collector.set_ok()
    assert t.recorder.wait_final([1])[1].kind == ot.EVENT_SENT
    assert all(r.route == "/hit" for r in collector.requests)


@pytest.mark.parametrize("failure,status", [("down", 0), ("reset", 0), ("close", 0), ("500", 500), ("503", 503),
                                            ("429", 429), ("400", 400), ("302", 302)])
def test_never_mode_drops_anything_but_delivered(make_tracker, collector, failure, status):
    if failure == "down":
        collector.down()
    elif failure == "reset":
        collector.set_reset()
    elif failure == "close":
        collector.set_close()
    else:
        collector.set_status(status, location=collector.url + "/redirected")
    t = make_tracker(max_attempts=3)
    t.send_n([1])
    assert t.flush() == ot.OK
    [dropped] = t.recorder.events
    assert dropped.kind == ot.EVENT_DROPPED
    assert dropped.http_status == status
    assert dropped.reason
    if collector.is_up:
        assert collector.quiet_for(0.3) == []
        assert len(collector.requests) == (0 if failure in ("reset", "close") else 1)


# ---------------------------------------------------------------- offline bursts and the reachability hint


def test_burst_while_offline_costs_one_connection(make_tracker, collector, storage_dir):
    collector.set_reset()
    t = make_tracker(storage="required", storage_path=storage_dir, retry_base_ms=8000, retry_max_ms=8000)
    t.send_n([1])
    assert t.flush() == ot.OK
    failed_at = time.monotonic()
    assert collector.connections == 1
    t.send_n(range(2, 51))
    assert t.flush() == ot.OK
    time.sleep(0.2)
    # The first backoff delay is at least 4 s (8000 ms x 0.5).
    assert time.monotonic() - failed_at < 3.9
    assert collector.connections == 1
    assert len(t.recorder.of_kind(ot.EVENT_STORED)) == 50
    collector.set_ok()
    assert t.set_online(True) == ot.OK
    collector.wait_for(50, timeout=10)
    t.recorder.wait_final(range(1, 51))
    assert collector.ns() == list(range(1, 51))


@pytest.mark.parametrize("trigger", ["set_online", "dispatch"])
def test_no_delivery_after_collector_returns_until_trigger(make_tracker, collector, storage_dir, trigger):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir, retry_base_ms=8000, retry_max_ms=8000)
    t.send_n([1])
    assert t.flush() == ot.OK
    failed_at = time.monotonic()
    t.send_n(range(2, 51))
    assert t.flush() == ot.OK
    collector.up()
    assert collector.quiet_for(0.5) == []
    assert time.monotonic() - failed_at < 3.9
    assert (t.set_online(True) if trigger == "set_online" else t.dispatch()) == ot.OK
    collector.wait_for(50, timeout=2)
    t.recorder.wait_final(range(1, 51))
    assert collector.ns() == list(range(1, 51))


def test_backoff_expiry_retries_automatically(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir, retry_base_ms=1000, retry_max_ms=1000)
    t.send_n([1])
    assert t.flush() == ot.OK
    failed_at = time.monotonic()
    t.send_n(range(2, 11))
    assert t.flush() == ot.OK
    collector.up()
    reqs = collector.wait_for(10, timeout=5)
    # No probe before the first backoff delay (at least 500 ms) had passed.
    assert reqs[0].mono - failed_at >= 0.45
    assert [r.n for r in reqs] == list(range(1, 11))


def test_set_online_false_stores_without_attempt(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir)
    assert t.set_online(False) == ot.OK
    t.send_n([1, 2, 3])
    assert t.flush() == ot.OK
    assert [e.n for e in t.recorder.of_kind(ot.EVENT_STORED)] == [1, 2, 3]
    assert collector.quiet_for(0.4) == []
    assert collector.connections == 0
    assert t.stats()["online"] is False
    assert t.set_online(True) == ot.OK
    collector.wait_for(3, timeout=2)
    t.recorder.wait_final([1, 2, 3])
    assert collector.ns() == [1, 2, 3]
    assert t.stats()["online"] is True


def test_set_online_false_stops_probing(make_tracker, collector, storage_dir):
    collector.set_reset()
    t = make_tracker(storage="required", storage_path=storage_dir, retry_base_ms=20, retry_max_ms=50)
    t.send_n([1])
    assert t.flush() == ot.OK
    assert t.set_online(False) == ot.OK
    time.sleep(0.1)  # a probe already under way may still finish
    probes = collector.connections
    time.sleep(0.5)
    assert collector.connections == probes
    collector.set_ok()
    time.sleep(0.2)
    assert collector.count == 0
    assert t.set_online(True) == ot.OK
    collector.wait_for(1, timeout=2)
    assert t.recorder.wait_final([1])[1].kind == ot.EVENT_SENT


def test_set_online_true_probes_at_once(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir, retry_base_ms=10000, retry_max_ms=10000)
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    collector.up()
    started = time.monotonic()
    assert t.set_online(True) == ot.OK
    reqs = collector.wait_for(2, timeout=2)
    assert reqs[0].mono - started < 1.0
    assert [r.n for r in reqs] == [1, 2]


# ---------------------------------------------------------------- request timeout


def test_request_timeout_with_hanging_collector_keeps_the_hit(make_tracker, collector, storage_dir):
    collector.set_hang()
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=1,
                     retry_base_ms=10000, retry_max_ms=10000)
    started = time.monotonic()
    t.send_n([1])
    evs = t.recorder.wait_for(lambda evs: len(evs) >= 1, timeout=5)
    elapsed = time.monotonic() - started
    assert 0.8 <= elapsed <= 3.5
    assert (evs[0].kind, evs[0].http_status) == (ot.EVENT_STORED, 0)
    assert t.offline_get()[0]["attempts"] == 0
    collector.set_ok()
    assert t.dispatch() == ot.OK
    assert t.recorder.wait_final([1])[1].kind == ot.EVENT_SENT
    assert set(collector.ns()) == {1}


def test_request_timeout_in_never_mode_drops(make_tracker, collector):
    collector.set_hang()
    t = make_tracker(request_timeout_seconds=1)
    started = time.monotonic()
    t.send_n([1])
    final = t.recorder.wait_final([1], timeout=5)[1]
    assert 0.8 <= time.monotonic() - started <= 3.5
    assert (final.kind, final.http_status) == (ot.EVENT_DROPPED, 0)


# ---------------------------------------------------------------- backoff


def test_backoff_grows_exponentially(make_tracker, collector, storage_dir):
    collector.set_reset()
    t = make_tracker(storage="required", storage_path=storage_dir, retry_base_ms=100, retry_max_ms=10000)
    t.send_n([1])
    assert t.flush() == ot.OK
    first = collector.connection_times[0]
    time.sleep(1.2)
    probes = [c - first for c in collector.connection_times if c - first <= 1.2]
    # Delays 100·2^(n-1) ms × [0.5, 1]: the 4th probe comes after >= 0.75 s, the 5th after >= 1.55 s.
    assert 3 <= len(probes) <= 5, probes
    gaps = [b - a for a, b in zip(probes, probes[1:])]
    assert all(g >= 0.04 for g in gaps), gaps


def test_backoff_is_capped_by_retry_max(make_tracker, collector, storage_dir):
    collector.set_reset()
    t = make_tracker(storage="required", storage_path=storage_dir, retry_base_ms=50, retry_max_ms=100)
    t.send_n([1])
    assert t.flush() == ot.OK
    time.sleep(1.2)
    times = collector.connection_times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) >= 8, gaps
    # Past the cap every delay is at most 100 ms (plus scheduling slack).
    assert max(gaps[3:]) <= 0.3, gaps
    assert [e.kind for e in t.recorder.events] == [ot.EVENT_STORED]


def test_attempts_survive_a_restart(make_tracker, collector, storage_dir):
    collector.set_status(503, retry_after=30)
    t1 = make_tracker(storage="required", storage_path=storage_dir, retry_max_ms=60000, max_attempts=2)
    t1.send_n([1])
    t1.recorder.wait_for(lambda evs: any(e.kind == ot.EVENT_STORED for e in evs))
    t1.destroy()
    assert collector.ns() == [1]

    collector.set_status(503)
    t2 = make_tracker(storage="required", storage_path=storage_dir, max_attempts=2)
    assert t2.offline_oldest()["attempts"] == 1
    assert t2.set_online(True) == ot.OK
    final = t2.recorder.wait_final([1])[1]
    assert (final.kind, final.http_status) == (ot.EVENT_DROPPED, 503)
    assert collector.ns() == [1, 1]


def test_max_age_expires_stored_hits_while_offline(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir, max_age_seconds=1)
    t.send_n([1])
    assert t.flush() == ot.OK
    final = t.recorder.wait_final([1], timeout=5)[1]
    assert final.kind == ot.EVENT_DROPPED and final.reason
    assert t.offline_count() == 0
