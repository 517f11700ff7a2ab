"""Host-provided transport (DESIGN §9). The test is the host: its callback copies each request and
returns; the test makes the HTTP request itself on its own threads (http.client against the real
collector) and reports what came of it with tracker_transport_complete."""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import offtrack as ot
from collector import Response

CONTENT_TYPES = {"lines": "text/plain; charset=utf-8", "json": "application/json"}


def threaded(lib, delay=0.0, extra_headers=None):
    """A host that performs every request on a new thread (after `delay`) and completes it there."""
    return ot.HostTransport(lib, ot.HostTransport.threaded(delay, extra_headers))


def recording(lib):
    """A host that only records requests: the test completes them."""
    return ot.HostTransport(lib)


def stored_events(t):
    return t.recorder.of_kind(ot.EVENT_STORED)


# ---------------------------------------------------------------- requests through the host


def test_requests_go_through_the_host(lib, make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir, headers={"X-Game": "demo"}, id_param="hid",
                     request_timeout_seconds=2)
    tr = threaded(lib)
    assert t.set_transport(tr, user_data=0x5EED) == ot.OK
    t.send_n([1, 2, 3])
    t.recorder.wait_final([1, 2, 3])
    reqs = tr.requests
    assert [r.n for r in reqs] == [1, 2, 3]
    assert collector.ns() == [1, 2, 3]
    assert collector.connections == 3  # the library made no request of its own
    version = lib.tracker_version().decode()
    for r, seen in zip(reqs, collector.requests):
        assert (r.method, r.content_type, r.body) == ("GET", None, None)
        assert r.url == collector.url + seen.path
        assert r.header_all("User-Agent") == [f"offtrack/{version}"]
        assert r.header_all("X-Game") == ["demo"]
        assert r.timeout_ms == 2000
        assert r.user_data == 0x5EED
    assert len({r.request_id for r in reqs}) == 3
    # The callback runs on the worker, the thread of the event callbacks.
    assert {r.thread_id for r in reqs} == t.recorder.thread_ids
    assert threading.get_ident() not in t.recorder.thread_ids
    assert tr.in_flight_before == [0, 0, 0]
    finals = t.recorder.final_by_n()
    assert [(finals[n].kind, finals[n].http_status) for n in (1, 2, 3)] == [(ot.EVENT_SENT, 200)] * 3
    assert [int(ot.url_param(finals[n].hit, "hid")) for n in (1, 2, 3)] == [finals[n].id for n in (1, 2, 3)]
    assert all(rc == ot.OK for _, _, rc in tr.completions)


@pytest.mark.parametrize("fmt", ["lines", "json"])
def test_batches_go_through_the_host(lib, make_tracker, collector, storage_dir, fmt):
    t = make_tracker(storage="always", storage_path=storage_dir, batch_endpoint=collector.url + "/batch",
                     batch_format=fmt)
    tr = threaded(lib)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1, 2, 3, 4])
    lines = [i["hit"].split("?", 1)[1] for i in t.offline_get()]
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    [r] = tr.requests
    assert (r.method, r.url, r.content_type) == ("POST", collector.url + "/batch", CONTENT_TYPES[fmt])
    expected = "\n".join(lines).encode() if fmt == "lines" else \
        json.dumps({"requests": ["?" + q for q in lines]}, separators=(",", ":")).encode()
    assert r.body == expected
    assert r.header_all("User-Agent") == [f"offtrack/{lib.tracker_version().decode()}"]
    [seen] = collector.requests
    assert (seen.method, seen.route, seen.ns, seen.body) == ("POST", "/batch", [1, 2, 3, 4], expected)
    assert seen.content_type == CONTENT_TYPES[fmt]
    assert [t.recorder.n_of(e) for e in t.recorder.finals()] == [1, 2, 3, 4]
    assert all(e.kind == ot.EVENT_SENT for e in t.recorder.finals())


@pytest.mark.parametrize("mode", ["never", "required"])
def test_completion_from_inside_the_callback(lib, make_tracker, collector, storage_dir, mode):
    """A host whose request is over by the time its callback returns completes inside the callback."""
    results = []
    tr = ot.HostTransport(lib, lambda tr_, req: results.append(tr_.perform_and_complete(req)))
    t = make_tracker(storage=mode, storage_path=storage_dir)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1, 2, 3])
    assert t.flush() == ot.OK
    t.recorder.wait_final([1, 2, 3])
    assert results == [ot.OK] * 3
    assert collector.ns() == [1, 2, 3]
    assert [(t.recorder.n_of(e), e.kind) for e in t.recorder.finals()] == [(n, ot.EVENT_SENT) for n in (1, 2, 3)]


def test_no_answer_completed_inside_the_callback_keeps_the_hit(lib, make_tracker, collector, storage_dir):
    calls = []

    def offline_host(tr_, req):
        calls.append(tr_.complete(req, 0, None, "no network"))

    tr = ot.HostTransport(lib, offline_host)
    t = make_tracker(storage="required", storage_path=storage_dir, max_attempts=1)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1])
    assert t.flush() == ot.OK
    [stored] = t.recorder.events
    assert (stored.kind, stored.http_status) == (ot.EVENT_STORED, 0)
    time.sleep(0.3)  # retries fail the same way
    assert len(tr.requests) >= 2 and set(calls) == {ot.OK}
    assert [e.kind for e in t.recorder.events] == [ot.EVENT_STORED]
    assert t.offline_get()[0]["attempts"] == 0
    assert t.stats()["online"] is False
    assert collector.count == 0


def test_completion_after_a_delay_from_another_thread(lib, make_tracker, collector, storage_dir):
    tr = threaded(lib, delay=0.3)
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=5)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1, 2, 3])
    t.recorder.wait_final([1, 2, 3], timeout=10)
    reqs = tr.requests
    assert [r.n for r in reqs] == [1, 2, 3]
    # One request at a time: the next one starts only once the previous one is completed.
    assert tr.in_flight_before == [0, 0, 0]
    assert all(b.mono - a.mono >= 0.28 for a, b in zip(reqs, reqs[1:]))
    assert collector.ns() == [1, 2, 3]
    assert [(t.recorder.n_of(e), e.kind) for e in t.recorder.finals()] == [(n, ot.EVENT_SENT) for n in (1, 2, 3)]


def test_out_of_order_completions_across_trackers(lib, make_tracker, collector, tmp_path):
    a_tr, b_tr = recording(lib), recording(lib)
    a = make_tracker(storage="required", storage_path=tmp_path / "a", request_timeout_seconds=10)
    b = make_tracker(storage="required", storage_path=tmp_path / "b", request_timeout_seconds=10)
    assert a.set_transport(a_tr) == ot.OK and b.set_transport(b_tr) == ot.OK
    a.send_n([1])
    b.send_n([2])
    [ra] = a_tr.wait_requests(1)
    [rb] = b_tr.wait_requests(1)
    assert ra.request_id != rb.request_id  # unique across the trackers of the process
    a.send_n([3])  # waits behind a's request in flight (a flush would wait for it too)
    time.sleep(0.3)
    assert len(a_tr.requests) == 1
    # A tracker knows only its own requests.
    assert a_tr.complete(rb, 200) == ot.ERROR_INVALID_ARGUMENT
    assert b_tr.complete(ra, 200) == ot.ERROR_INVALID_ARGUMENT
    # The later request completes first.
    assert b_tr.perform_and_complete(rb) == ot.OK
    b.recorder.wait_final([2])
    assert a.recorder.finals() == []
    assert a_tr.perform_and_complete(ra) == ot.OK
    ra3 = a_tr.wait_requests(2)[1]
    assert ra3.n == 3
    assert a_tr.perform_and_complete(ra3) == ot.OK
    a.recorder.wait_final([1, 3])
    assert collector.ns() == [2, 1, 3]
    assert [(a.recorder.n_of(e), e.kind) for e in a.recorder.finals()] == [(1, ot.EVENT_SENT), (3, ot.EVENT_SENT)]
    assert [(b.recorder.n_of(e), e.kind) for e in b.recorder.finals()] == [(2, ot.EVENT_SENT)]


# ---------------------------------------------------------------- outcomes reported by the host


@pytest.mark.parametrize("case", ["2xx", "4xx", "5xx-retry-after", "3xx", "refused"])
def test_outcomes_reported_by_the_host_follow_the_rules(lib, make_tracker, collector, storage_dir, case):
    tr = threaded(lib)
    t = make_tracker(storage="required", storage_path=storage_dir, max_attempts=3, retry_max_ms=5000,
                     retry_base_ms=50)
    assert t.set_transport(tr) == ot.OK
    if case == "2xx":
        collector.set_status(204)
        t.send_n([1])
        final = t.recorder.wait_final([1])[1]
        assert (final.kind, final.http_status) == (ot.EVENT_SENT, 204)
        assert collector.ns() == [1]
    elif case == "4xx":
        collector.set_status(404)
        t.send_n([1])
        final = t.recorder.wait_final([1])[1]
        assert (final.kind, final.http_status) == (ot.EVENT_DROPPED, 404)
        assert collector.quiet_for(0.3) == []
        assert collector.ns() == [1]
    elif case == "5xx-retry-after":
        collector.script(Response(503, {"Retry-After": "1"}))
        t.send_n([1])
        stored = t.recorder.wait_for(lambda evs: evs, message="STORED")[0]
        assert (stored.kind, stored.http_status) == (ot.EVENT_STORED, 503)
        assert t.offline_get()[0]["attempts"] == 1
        final = t.recorder.wait_final([1], timeout=5)[1]
        assert final.kind == ot.EVENT_SENT
        r1, r2 = tr.requests
        assert r2.mono - r1.mono >= 0.9  # the host's Retry-After text paused the queue
        assert collector.ns() == [1, 1]
    elif case == "3xx":
        collector.set_status(302, location=collector.url + "/redirected?n=99")
        t.send_n([1])
        assert t.flush() == ot.OK
        [stored] = t.recorder.events
        assert (stored.kind, stored.http_status) == (ot.EVENT_STORED, 302)
        time.sleep(0.3)
        assert t.offline_get()[0]["attempts"] == 0
        assert t.stats()["online"] is False
        collector.set_ok()
        assert t.recorder.wait_final([1])[1].kind == ot.EVENT_SENT
        assert all(r.route == "/hit" for r in collector.requests)
    else:
        collector.down()
        t.send_n([1])
        assert t.flush() == ot.OK
        [stored] = t.recorder.events
        assert (stored.kind, stored.http_status) == (ot.EVENT_STORED, 0)
        time.sleep(0.3)
        assert len(tr.requests) >= 2  # retried through the host
        assert t.offline_get()[0]["attempts"] == 0
        collector.up()
        assert t.recorder.wait_final([1])[1].kind == ot.EVENT_SENT
        assert collector.ns() == [1]


def test_never_mode_through_the_host(lib, make_tracker, collector):
    tr = threaded(lib)
    t = make_tracker()
    assert t.set_transport(tr) == ot.OK
    collector.refuse_hit(2, 400)
    t.send_n([1, 2, 3])
    finals = t.recorder.wait_final([1, 2, 3])
    assert {n: (e.kind, e.http_status) for n, e in finals.items()} == {
        1: (ot.EVENT_SENT, 200), 2: (ot.EVENT_DROPPED, 400), 3: (ot.EVENT_SENT, 200)}
    assert [r.n for r in tr.requests] == [1, 2, 3]


# ---------------------------------------------------------------- completions that change nothing


def test_never_completed_request_times_out_as_unreachable(lib, make_tracker, collector, storage_dir):
    tr = recording(lib)
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=1, max_attempts=1)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1])
    [first] = tr.wait_requests(1)
    assert first.timeout_ms == 1000
    [stored] = t.recorder.wait_for(lambda evs: evs, timeout=4, message="STORED after the timeout")
    waited = time.monotonic() - first.mono
    assert 0.9 <= waited <= 3.0, waited
    assert (stored.kind, stored.http_status) == (ot.EVENT_STORED, 0)
    assert t.offline_get()[0]["attempts"] == 0
    assert t.stats()["online"] is False
    # The host's answer comes too late: refused, and nothing changes.
    stats = t.stats()
    assert tr.complete(first, 200) == ot.ERROR_INVALID_ARGUMENT
    assert ot.last_error(lib) != ""
    assert [e.kind for e in t.recorder.events] == [ot.EVENT_STORED]
    assert t.offline_count() == 1
    assert {k: t.stats()[k] for k in ("sent", "dropped", "queued")} == \
        {k: stats[k] for k in ("sent", "dropped", "queued")}
    # The retry is a new request for the same hit; this one is answered.
    retry = tr.wait_requests(2)[1]
    assert retry.request_id != first.request_id and retry.n == 1
    assert tr.perform_and_complete(retry) == ot.OK
    assert t.recorder.wait_final([1])[1].kind == ot.EVENT_SENT
    assert tr.complete(first, 200) == ot.ERROR_INVALID_ARGUMENT
    assert tr.complete(retry, 200) == ot.ERROR_INVALID_ARGUMENT
    assert collector.ns() == [1]
    assert t.offline_count() == 0


@pytest.mark.parametrize("first_status", [200, 500, 0])
def test_duplicate_completion_changes_nothing(lib, make_tracker, collector, storage_dir, first_status):
    tr = recording(lib)
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=10, max_attempts=5,
                     retry_base_ms=5000, retry_max_ms=5000)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1])
    [r] = tr.wait_requests(1)
    assert tr.complete(r, first_status, None, "no answer" if first_status == 0 else None) == ot.OK
    assert t.flush() == ot.OK
    events, stats, queue = t.recorder.events, t.stats(), t.offline_get()
    for status in (200, 500, 400, 0):
        assert tr.complete(r, status, None, "again" if status == 0 else None) == ot.ERROR_INVALID_ARGUMENT
    assert t.flush() == ot.OK
    assert t.recorder.events == events
    assert t.offline_get() == queue
    after = t.stats()
    assert {k: after[k] for k in ("sent", "dropped", "queued", "failed_attempts")} == \
        {k: stats[k] for k in ("sent", "dropped", "queued", "failed_attempts")}
    expected = {200: ["SENT"], 500: ["STORED"], 0: ["STORED"]}[first_status]
    assert [e.kind_name for e in t.recorder.events] == expected
    assert len(tr.requests) == 1


def test_unknown_request_id(lib, make_tracker, storage_dir):
    tr = recording(lib)
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=10)
    assert t.set_transport(tr) == ot.OK
    for rid in (0, 1, 2, 12345, 2**63, 2**64 - 1):
        assert tr.complete(rid, 200) == ot.ERROR_INVALID_ARGUMENT, rid
        assert ot.last_error(lib) != ""
    t.send_n([1])
    [r] = tr.wait_requests(1)
    for rid in (r.request_id + 1, r.request_id + 1000, r.request_id - 1 if r.request_id else 2**64 - 1):
        assert tr.complete(rid, 200) == ot.ERROR_INVALID_ARGUMENT, rid
    assert t.recorder.events == []
    assert tr.complete(r, 200) == ot.OK  # still waiting for its own completion
    assert t.recorder.wait_final([1])[1].kind == ot.EVENT_SENT


@pytest.mark.parametrize("status", [-1, 1, 99, 600, 999, 2**31 - 1, -(2**31)])
def test_bad_http_status_is_refused_and_the_request_stays_pending(lib, make_tracker, collector, storage_dir,
                                                                   status):
    tr = recording(lib)
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=10)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1])
    [r] = tr.wait_requests(1)
    assert tr.complete(r, status) == ot.ERROR_INVALID_ARGUMENT
    assert str(status) in ot.last_error(lib) or "status" in ot.last_error(lib).lower()
    assert tr.complete(r, status, "1", "x") == ot.ERROR_INVALID_ARGUMENT
    assert t.recorder.events == []
    assert t.offline_get()[0]["attempts"] == 0
    assert tr.perform_and_complete(r) == ot.OK
    assert t.recorder.wait_final([1])[1].kind == ot.EVENT_SENT
    assert collector.ns() == [1]


@pytest.mark.parametrize("status,kind,attempts", [(100, None, None), (599, "STORED", 1), (199, None, None)])
def test_http_status_bounds_are_accepted(lib, make_tracker, storage_dir, status, kind, attempts):
    tr = recording(lib)
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=10,
                     retry_base_ms=5000, retry_max_ms=5000)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1])
    [r] = tr.wait_requests(1)
    assert tr.complete(r, status) == ot.OK
    assert t.flush() == ot.OK
    if kind is not None:
        assert [(e.kind_name, e.http_status) for e in t.recorder.events] == [(kind, status)]
        assert t.offline_get()[0]["attempts"] == attempts


def test_null_tracker(lib):
    cb = ot.TRANSPORT_CALLBACK(lambda req, ud: None)
    assert lib.tracker_set_transport(None, cb, None) == ot.ERROR_NULL_ARGUMENT
    assert "tracker" in ot.last_error(lib)
    assert lib.tracker_set_transport(None, None, None) == ot.ERROR_NULL_ARGUMENT
    assert lib.tracker_transport_complete(None, 1, 200, None, None) == ot.ERROR_NULL_ARGUMENT
    assert "tracker" in ot.last_error(lib)


# ---------------------------------------------------------------- switching transports


def test_switching_between_built_in_and_host_while_hits_are_queued(lib, make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=5)
    # Built-in client, collector down: 1-4 wait in the queue.
    collector.down()
    t.send_n([1, 2, 3, 4])
    assert t.flush() == ot.OK
    assert t.offline_ns() == [1, 2, 3, 4]
    collector.up()

    # The host delivers two requests, then has no network.
    allowed = [2]
    results = []

    def gate(tr_, req):
        if allowed[0] > 0:
            allowed[0] -= 1
            ot.HostTransport.threaded(extra_headers={"X-Via": "host"})(tr_, req)
        else:
            results.append(tr_.complete(req, 0, None, "host has no network"))

    host = ot.HostTransport(lib, gate)
    assert t.set_transport(host) == ot.OK
    assert t.set_online(True) == ot.OK
    t.recorder.wait_final([1, 2])
    host.wait_requests(3)
    t.send_n([5])  # joins the queue behind 3 and 4
    assert t.flush() == ot.OK

    # Back to the built-in client: the host is called no more (it flags any late call).
    assert t.set_transport(None) == ot.OK
    host_calls = len(host.requests)
    assert t.set_online(True) == ot.OK
    t.recorder.wait_final([3, 4, 5])
    assert len(host.requests) == host_calls
    assert set(results) <= {ot.OK}

    # And to a host again.
    host2 = threaded(lib, extra_headers={"X-Via": "host2"})
    assert t.set_transport(host2) == ot.OK
    t.send_n([6])
    t.recorder.wait_final([6])

    assert collector.quiet_for(0.2) == []
    assert collector.hit_ns() == [1, 2, 3, 4, 5, 6]
    assert [r.header("X-Via") for r in collector.requests] == ["host", "host", None, None, None, "host2"]
    finals = t.recorder.finals()
    assert [(t.recorder.n_of(e), e.kind) for e in finals] == [(n, ot.EVENT_SENT) for n in range(1, 7)]
    assert t.offline_count() == 0


@pytest.mark.parametrize("to", ["built-in", "another host"])
def test_request_in_flight_during_a_switch_completes_through_its_own_host(lib, make_tracker, collector,
                                                                           storage_dir, to):
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=10)
    first = recording(lib)
    assert t.set_transport(first) == ot.OK
    t.send_n([1, 2, 3])
    [r1] = first.wait_requests(1)
    second = threaded(lib, extra_headers={"X-Via": "second"}) if to == "another host" else None
    assert t.set_transport(second) == ot.OK  # returns while request 1 still awaits the first host
    time.sleep(0.2)
    assert t.recorder.finals() == [] and len(first.requests) == 1
    # The first host answers: its request still counts, and it is called no more.
    assert first.perform_and_complete(r1, extra_headers={"X-Via": "first"}) == ot.OK
    t.recorder.wait_final([1, 2, 3])
    assert collector.quiet_for(0.2) == []
    assert collector.ns() == [1, 2, 3]
    later = "second" if to == "another host" else None
    assert [r.header("X-Via") for r in collector.requests] == ["first", later, later]
    assert len(first.requests) == 1
    assert [(t.recorder.n_of(e), e.kind) for e in t.recorder.finals()] == [(n, ot.EVENT_SENT) for n in (1, 2, 3)]


def test_never_mode_request_never_completed_is_dropped(lib, make_tracker, collector):
    tr = recording(lib)
    t = make_tracker(request_timeout_seconds=1)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1])
    [r] = tr.wait_requests(1)
    final = t.recorder.wait_final([1], timeout=4)[1]
    assert (final.kind, final.http_status) == (ot.EVENT_DROPPED, 0)
    assert time.monotonic() - r.mono >= 0.9
    assert tr.complete(r, 200) == ot.ERROR_INVALID_ARGUMENT
    assert [e.kind for e in t.recorder.events] == [ot.EVENT_DROPPED]


def test_set_transport_replaces_the_previous_host(lib, make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir)
    first, second = threaded(lib, extra_headers={"X-Via": "1"}), threaded(lib, extra_headers={"X-Via": "2"})
    assert t.set_transport(first) == ot.OK
    t.send_n([1])
    t.recorder.wait_final([1])
    assert t.set_transport(second) == ot.OK
    t.send_n([2])
    t.recorder.wait_final([2])
    assert [r.header("X-Via") for r in collector.requests] == ["1", "2"]
    assert [len(first.requests), len(second.requests)] == [1, 1]


# ---------------------------------------------------------------- destroy


def test_destroy_while_a_request_awaits_completion(lib, make_tracker, collector, storage_dir):
    tr = recording(lib)
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=10,
                     shutdown_timeout_ms=500)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1])
    [r] = tr.wait_requests(1)
    started = time.monotonic()
    t.destroy()
    assert time.monotonic() - started < 0.5 + 0.7
    assert t.recorder.finals() == []
    # The wrapper does not let a completion reach a destroyed tracker.
    assert tr.complete(r, 200) is None
    time.sleep(0.2)  # the callback is never called again (the transport flags a late call)
    assert len(tr.requests) == 1

    # The hit stays for the next run, with no attempt counted, and goes out once.
    t2 = make_tracker(storage="required", storage_path=storage_dir)
    assert t2.offline_ns() == [1]
    assert t2.offline_get()[0]["attempts"] == 0
    assert t2.dispatch() == ot.OK
    assert t2.flush() == ot.OK
    assert collector.ns() == [1]
    assert t2.recorder.final_by_n()[1].kind == ot.EVENT_SENT


def test_completion_during_destroy_ends_the_wait(lib, make_tracker, collector, storage_dir):
    tr = recording(lib)
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=10,
                     shutdown_timeout_ms=4000)
    assert t.set_transport(tr) == ot.OK
    t.send_n([1])
    [r] = tr.wait_requests(1)
    rcs = []
    timer = threading.Timer(0.3, lambda: rcs.append(tr.perform_and_complete(r)))
    started = time.monotonic()
    timer.start()
    t.destroy()
    elapsed = time.monotonic() - started
    timer.join()
    assert rcs == [ot.OK]
    assert 0.25 <= elapsed < 2.5, elapsed
    assert t.recorder.final_by_n()[1].kind == ot.EVENT_SENT  # emitted before destroy returned
    assert collector.ns() == [1]
    t2 = make_tracker(storage="required", storage_path=storage_dir)
    assert t2.offline_count() == 0


CHILD = textwrap.dedent("""
    import json, sys, time
    import offtrack as ot

    lib = ot.load()
    out = {}
    cfg = {"endpoint": "http://127.0.0.1:9/hit", "storage": "required", "storage_path": sys.argv[1],
           "request_timeout_seconds": 10, "shutdown_timeout_ms": 200}
    t = ot.Tracker.create(lib, cfg)
    tr = ot.HostTransport(lib)
    assert t.set_transport(tr) == ot.OK
    t.send_ok("n=1")
    [r] = tr.wait_requests(1)
    old = t.handle.value
    t.destroy()
    # What the wrapper prevents: a completion with the handle of a destroyed tracker.
    out["after_destroy"] = lib.tracker_transport_complete(old, r.request_id, 200, None, None)

    cfg["storage_path"] = sys.argv[2]
    t2 = ot.Tracker.create(lib, cfg)
    tr2 = ot.HostTransport(lib)
    assert t2.set_transport(tr2) == ot.OK
    t2.send_ok("n=2")
    [r2] = tr2.wait_requests(1)
    out["ids_differ"] = r2.request_id != r.request_id
    out["old_handle_old_id"] = lib.tracker_transport_complete(old, r.request_id, 200, None, None)
    out["new_tracker_old_id"] = lib.tracker_transport_complete(t2.handle, r.request_id, 200, None, None)
    out["new_tracker_own_id"] = tr2.complete(r2, 200)
    t2.recorder.wait_final([2])
    out["events"] = [e.kind_name for e in t2.recorder.events]
    t2.destroy()
    print(json.dumps(out))
""")


def test_completion_after_destroy_is_refused_not_a_crash(tmp_path):
    """Against the contract (like free), so in a child process: a crash must not take the suite down."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(ot.__file__)] + ([env["PYTHONPATH"]] if env.get(
        "PYTHONPATH") else []))
    env.setdefault("OFFTRACK_LIB", ot.library_path())
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "a"), str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=30, env=env)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {
        "after_destroy": ot.ERROR_INVALID_ARGUMENT,
        "ids_differ": True,
        "old_handle_old_id": ot.ERROR_INVALID_ARGUMENT,
        "new_tracker_old_id": ot.ERROR_INVALID_ARGUMENT,
        "new_tracker_own_id": ot.OK,
        "events": ["SENT"],
    }
