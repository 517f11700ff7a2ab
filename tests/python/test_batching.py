"""Batched delivery (DESIGN §8): consecutive stored hits go oldest first as one POST to
batch_endpoint, in both formats; the limits; what goes alone as a GET; every outcome of a batch,
with its events and stats; headers; the config keys."""

import json
import os
import random
import re
import time
import urllib.parse

import pytest

import offtrack as ot
from collector import Response

CONTENT_TYPES = {"lines": "text/plain; charset=utf-8", "json": "application/json"}


@pytest.fixture(params=["lines", "json"])
def fmt(request):
    return request.param


@pytest.fixture
def batching(make_tracker, collector, storage_dir, fmt):
    """A tracker with batching on (format `fmt`, batch_endpoint /batch), `always` mode by default."""

    def make(**overrides):
        cfg = dict(storage="always", storage_path=storage_dir, batch_endpoint=collector.url + "/batch",
                   batch_format=fmt)
        cfg.update(overrides)
        return make_tracker(**cfg)

    return make


def body(fmt, queries):
    """The body a batch of these queries must have."""
    if fmt == "lines":
        return "\n".join(queries).encode()
    return json.dumps({"requests": ["?" + q for q in queries]}, separators=(",", ":")).encode()


def _upper_escapes(s):
    return re.sub(r"%[0-9a-fA-F]{2}", lambda m: m.group(0).upper(), s)


def query_of(url):
    return urllib.parse.urlsplit(url).query


def queued_queries(t):
    """The query a GET of each stored hit would carry, oldest first: what a batch line must be."""
    return {int(ot.url_param(i["hit"], "n")): query_of(i["hit"]) for i in t.offline_get()}


def dispatch_all(t):
    assert t.dispatch() == ot.OK
    assert t.flush(20000) == ot.OK


def post(*ns):
    return ("POST", "/batch", list(ns))


def get(n, route="/hit"):
    return ("GET", route, [n])


def assert_sent_in_order(t, ns, status=200):
    finals = t.recorder.finals()
    assert [t.recorder.n_of(e) for e in finals] == list(ns), finals
    assert all((e.kind, e.http_status, e.reason) == (ot.EVENT_SENT, status, "") for e in finals), finals


# ---------------------------------------------------------------- what a batch carries


def test_batch_carries_hits_in_order_with_timestamp_and_id(batching, collector, fmt):
    t = batching(id_param="hid")
    before = time.time()
    t.send_n(range(1, 6))
    after = time.time()
    queued = t.offline_get()
    lines = [query_of(i["hit"]) for i in queued]
    dispatch_all(t)
    [req] = collector.requests
    assert (req.method, req.route, req.raw_query) == ("POST", "/batch", "")
    assert req.content_type == CONTENT_TYPES[fmt]
    assert req.body == body(fmt, lines)
    assert req.ns == [1, 2, 3, 4, 5]
    for hit, item in zip(req.hits, queued):
        assert sorted(k for k, _ in hit.query) == ["hid", "n", "ts"]
        assert int(hit.param("ts")) == item["created"] // 1000
        assert int(before) <= int(hit.param("ts")) <= int(after)
        assert int(hit.param("hid")) == item["id"]
    assert_sent_in_order(t, [1, 2, 3, 4, 5])
    # Each SENT event names its hit as the GET of it would have: the line is that URL's query.
    for e, line in zip(t.recorder.finals(), lines):
        assert query_of(e.hit) == line
        assert e.id == int(ot.url_param(e.hit, "hid"))
    assert t.offline_count() == 0
    assert collector.quiet_for(0.2) == []


@pytest.mark.parametrize("ts_param,id_param", [("t", "id"), ("", "")])
def test_batch_lines_follow_the_configured_parameters(batching, collector, fmt, ts_param, id_param):
    t = batching(timestamp_param=ts_param, id_param=id_param)
    t.send_ok("n=1&q=a b&name=Zoë", "n=2&c=x+y&d=%41", "n=3&ts=7", 'n=4&s="\\{}|^`<>/\'')
    lines = list(queued_queries(t).values())
    dispatch_all(t)
    [req] = collector.requests
    assert req.body == body(fmt, lines)
    h1, h2, h3, h4 = req.hits
    assert h4.params("s") == ['"\\{}|^`<>/\'']
    assert (h1.params("q"), h1.params("name")) == (["a b"], ["Zoë"])
    assert "%20" in h1.raw_query and " " not in h1.raw_query  # percent-encoded as in a GET
    assert h2.raw_query.startswith("n=2&c=x+y&d=%41")  # escapes and '+' kept
    if ts_param:
        assert h3.params("ts") == ["7"]  # an ordinary parameter here
        names = [sorted(k for k, _ in h.query if k in (ts_param, id_param)) for h in req.hits]
        assert names == [sorted([ts_param, id_param])] * 4
    else:
        assert [_upper_escapes(h.raw_query) for h in req.hits[:3]] == \
            ["n=1&q=a%20b&name=Zo%C3%AB", "n=2&c=x+y&d=%41", "n=3&ts=7"]
    assert_sent_in_order(t, [1, 2, 3, 4])


def test_batch_line_includes_the_endpoint_query(make_tracker, collector, storage_dir, fmt):
    """A line is the query a GET of the hit would carry after '?': the endpoint's own query too."""
    t = make_tracker(endpoint=collector.endpoint + "?app=demo", storage="always", storage_path=storage_dir,
                     batch_endpoint=collector.url + "/batch", batch_format=fmt, timestamp_param="")
    t.send_n([1, 2, 3])
    dispatch_all(t)
    [req] = collector.requests
    assert req.route == "/batch"
    assert req.body == body(fmt, ["app=demo&n=1", "app=demo&n=2", "app=demo&n=3"])


def test_post_carries_content_type_and_configured_headers(lib, batching, collector, fmt):
    t = batching(headers={"X-Game": "demo", "X-Build": "42"})
    t.send_n([1, 2, 3])
    dispatch_all(t)
    [req] = collector.requests
    assert req.method == "POST"
    assert req.header_all("Content-Type") == [CONTENT_TYPES[fmt]]
    assert req.header_all("X-Game") == ["demo"]
    assert req.header_all("X-Build") == ["42"]
    assert req.header_all("User-Agent") == [f"offtrack/{lib.tracker_version().decode()}"]
    assert int(req.header("Content-Length")) == len(req.body)


def test_post_user_agent_override(batching, collector):
    t = batching(headers={"user-agent": "MyGame/1.0"})
    t.send_n([1, 2])
    dispatch_all(t)
    [req] = collector.requests
    assert req.method == "POST"
    assert req.header_all("User-Agent") == ["MyGame/1.0"]


# ---------------------------------------------------------------- limits


@pytest.mark.parametrize("max_hits,count,sizes", [(3, 8, [3, 3, 2]), (4, 8, [4, 4]), (2, 5, [2, 2]),
                                                  (10000, 12, [12])])
def test_batch_max_hits_splits_into_exact_batches(batching, collector, max_hits, count, sizes):
    t = batching(batch_max_hits=max_hits)
    t.send_n(range(1, count + 1))
    dispatch_all(t)
    expected, n = [], 1
    for size in sizes:
        expected.append(post(*range(n, n + size)))
        n += size
    shape = collector.shape()
    if n <= count:  # (2, 5): the fifth hit is alone after two full batches
        assert shape[:-1] == expected
        assert shape[-1] in (get(n), post(n))
    else:
        assert shape == expected
    assert collector.hit_ns() == list(range(1, count + 1))
    assert_sent_in_order(t, range(1, count + 1))


def test_default_batch_max_hits_is_1000(batching, collector):
    t = batching()
    t.send_n(range(1, 2501))
    assert t.dispatch() == ot.OK
    assert t.flush(30000) == ot.OK
    assert collector.shape() == [post(*range(1, 1001)), post(*range(1001, 2001)), post(*range(2001, 2501))]
    t.recorder.wait_final(range(1, 2501))
    assert all(e.kind == ot.EVENT_SENT for e in t.recorder.finals())
    s = t.stats()
    assert (s["sent"], s["queued"], s["dropped"]) == (2500, 0, 0)


LINE = 400  # bytes of each line in the byte-limit tests: n=<digit>&p=<pad>&ts=<10 digits>


def _padded(k, line=LINE):
    return f"n={k}&p=" + "x" * (line - len(f"n={k}&p=") - len("&ts=") - 10)


@pytest.mark.parametrize("slack,sizes", [(0, [3, 3, 2]), (-1, [2, 2, 2, 2])])
def test_batch_max_bytes_splits_exactly(batching, collector, fmt, slack, sizes):
    """batch_max_bytes is the most body bytes of a request: a body of exactly the limit is sent,
    one byte more is split."""
    three = len(body(fmt, ["q" * LINE] * 3))
    limit = three + slack
    t = batching(batch_max_bytes=limit, batch_max_hits=100)
    t.send_ok(*[_padded(k) for k in range(1, 9)])
    queries = queued_queries(t)
    assert {len(q) for q in queries.values()} == {LINE}
    dispatch_all(t)
    expected, n = [], 1
    for size in sizes:
        expected.append(post(*range(n, n + size)))
        n += size
    assert collector.shape() == expected
    for req in collector.requests:
        assert len(req.body) <= limit
        assert req.body == body(fmt, [queries[k] for k in req.ns])
    assert_sent_in_order(t, range(1, 9))


def test_hit_larger_than_batch_max_bytes_goes_alone_as_get(batching, collector, fmt):
    t = batching(batch_max_bytes=1024)
    t.send_ok("n=1", "n=2", "n=3&p=" + "x" * 1100, "n=4", "n=5")
    queries = queued_queries(t)
    dispatch_all(t)
    assert collector.shape() == [post(1, 2), get(3), post(4, 5)]
    big = collector.requests[1]
    assert big.raw_query == queries[3]
    assert big.body == b""
    assert_sent_in_order(t, range(1, 6))


# ---------------------------------------------------------------- what goes as a GET


def test_single_ready_hit_goes_as_get_when_dispatched(batching, collector):
    t = batching()
    t.send_n([1])
    dispatch_all(t)
    [req] = collector.requests
    assert (req.method, req.route, req.n, req.body) == ("GET", "/hit", 1, b"")
    assert req.param("ts") is not None
    assert_sent_in_order(t, [1])


def test_single_hit_in_required_mode_goes_as_get(batching, collector):
    t = batching(storage="required")
    t.send_n([1])
    assert t.flush() == ot.OK
    assert collector.shape() == [get(1)]
    assert_sent_in_order(t, [1])


def test_full_url_with_another_path_goes_alone_and_splits_batches(batching, collector, fmt):
    u = collector.url
    t = batching()
    t.send_ok(u + "/other?n=1", "n=2", "n=3", u + "/a/b?n=4", u + "/other?n=5", "n=6", u + "/hit?n=7", "n=8",
              u + "/last?n=9")
    queries = queued_queries(t)
    dispatch_all(t)
    assert collector.shape() == [get(1, "/other"), post(2, 3), get(4, "/a/b"), get(5, "/other"), post(6, 7, 8),
                                 get(9, "/last")]
    reqs = collector.requests
    assert reqs[4].body == body(fmt, [queries[6], queries[7], queries[8]])  # a full URL on the endpoint's path
    assert [r.raw_query for r in reqs if r.method == "GET"] == [queries[k] for k in (1, 4, 5, 9)]
    assert_sent_in_order(t, range(1, 10))


def test_never_mode_hits_are_not_batched(make_tracker, collector):
    collector.set_hang()
    t = make_tracker(batch_endpoint=collector.url + "/batch", request_timeout_seconds=10)
    t.send_n([1])
    collector.wait_for(1)
    t.send_n([2, 3, 4, 5])  # wait in memory behind the hanging request
    collector.release(200)
    t.recorder.wait_final(range(1, 6))
    assert collector.shape() == [get(k) for k in range(1, 6)]
    assert_sent_in_order(t, range(1, 6))


def test_hits_arriving_during_a_batch_go_in_the_next_one(batching, collector):
    collector.set_hang()
    t = batching(storage="required", request_timeout_seconds=10)
    assert t.set_online(False) == ot.OK
    t.send_n([1, 2, 3])
    assert t.set_online(True) == ot.OK
    collector.wait_for(1)
    t.send_n([4, 5, 6])
    collector.release(200)
    t.recorder.wait_final(range(1, 7))
    assert collector.shape() == [post(1, 2, 3), post(4, 5, 6)]
    assert_sent_in_order(t, range(1, 7))


def test_required_mode_burst_arrives_in_order_exactly_once(batching, collector):
    t = batching(storage="required")
    t.send_n(range(1, 301))
    t.recorder.wait_final(range(1, 301), timeout=20)
    assert collector.quiet_for(0.2) == []
    assert collector.hit_ns() == list(range(1, 301))
    assert all(len(r.hits) == 1 for r in collector.requests if r.method == "GET")
    assert_sent_in_order(t, range(1, 301))


# ---------------------------------------------------------------- outcomes


@pytest.mark.parametrize("status", [200, 204])
def test_2xx_batch_sends_every_hit(batching, collector, status):
    collector.set_status(status)
    t = batching()
    t.send_n([1, 2, 3, 4])
    dispatch_all(t)
    assert collector.shape() == [post(1, 2, 3, 4)]
    assert_sent_in_order(t, [1, 2, 3, 4], status)
    assert t.recorder.kinds_by_n() == {n: ["STORED", "SENT"] for n in range(1, 5)}
    s = t.stats()
    assert (s["sent"], s["dropped"], s["queued"], s["failed_attempts"]) == (4, 0, 0, 0)
    assert t.offline_count() == 0


def _fail(collector, failure):
    {"down": collector.down, "reset": collector.set_reset, "close": collector.set_close}[failure]()


def _recover(collector, failure):
    collector.up() if failure == "down" else collector.set_ok()


@pytest.mark.parametrize("failure", ["down", "reset", "close"])
def test_unreachable_batch_keeps_every_hit_without_counting(batching, collector, failure):
    _fail(collector, failure)
    t = batching(max_attempts=1)
    t.send_n([1, 2, 3, 4])
    dispatch_all(t)
    if failure != "down":
        assert collector.connections >= 1
    assert t.recorder.finals() == []
    assert [(int(ot.url_param(i["hit"], "n")), i["attempts"]) for i in t.offline_get()] == \
        [(1, 0), (2, 0), (3, 0), (4, 0)]
    s = t.stats()
    assert (s["queued"], s["sent"], s["dropped"], s["failed_attempts"], s["online"]) == (4, 0, 0, 0, False)
    dispatch_all(t)  # still unreachable: a second try counts nothing either
    assert all(i["attempts"] == 0 for i in t.offline_get())
    _recover(collector, failure)
    dispatch_all(t)
    assert collector.shape() == [post(1, 2, 3, 4)]
    assert_sent_in_order(t, [1, 2, 3, 4])
    assert t.offline_count() == 0


@pytest.mark.parametrize("failure", ["down", "reset"])
def test_unreachable_batch_is_retried_automatically_in_order(batching, collector, failure):
    t = batching(storage="required", max_attempts=1)
    assert t.set_online(False) == ot.OK
    t.send_n([1, 2, 3, 4])  # stored without an attempt
    _fail(collector, failure)
    assert t.set_online(True) == ot.OK
    assert t.flush() == ot.OK
    if failure == "reset":
        collector.wait_connections(1)
    time.sleep(0.3)  # several retries fail meanwhile
    assert t.recorder.finals() == []
    assert [i["attempts"] for i in t.offline_get()] == [0, 0, 0, 0]
    t.send_n([5])  # joins the tail
    _recover(collector, failure)
    t.recorder.wait_final(range(1, 6))
    assert collector.quiet_for(0.2) == []
    # (a retry that had taken 1-4 just before 5 arrived may be the one that gets through)
    assert collector.shape() in ([post(1, 2, 3, 4, 5)], [post(1, 2, 3, 4), get(5)])
    assert_sent_in_order(t, range(1, 6))


@pytest.mark.parametrize("status", [500, 503, 429, 408])
def test_retryable_batch_counts_an_attempt_per_hit_and_honours_retry_after(batching, collector, status):
    collector.script(Response(status, {"Retry-After": "1"}))
    t = batching(storage="required", max_attempts=3, retry_max_ms=5000)
    assert t.set_online(False) == ot.OK
    t.send_n([1, 2, 3, 4])
    assert t.set_online(True) == ot.OK
    collector.wait_for(1)
    ot.wait_until(lambda: [i["attempts"] for i in t.offline_get()] == [1, 1, 1, 1], timeout=0.8,
                  message="one attempt counted for every hit of the failed batch")
    assert t.recorder.finals() == []
    assert t.stats()["failed_attempts"] >= 1
    reqs = collector.wait_for(2, timeout=6)
    t.recorder.wait_final(range(1, 5))
    assert collector.shape() == [post(1, 2, 3, 4), post(1, 2, 3, 4)]
    assert reqs[1].mono - reqs[0].mono >= 0.9  # the pause was honoured
    assert reqs[0].body == reqs[1].body  # same timestamps, same lines
    assert_sent_in_order(t, [1, 2, 3, 4])


def test_retry_after_on_a_batch_is_overridden_only_by_dispatch(batching, collector):
    collector.script(Response(503, {"Retry-After": "30"}))
    t = batching(storage="required", retry_max_ms=60000)
    assert t.set_online(False) == ot.OK
    t.send_n([1, 2, 3])
    assert t.set_online(True) == ot.OK
    collector.wait_for(1)
    t.send_n([4])
    assert t.flush() == ot.OK
    assert collector.quiet_for(0.4) == []
    dispatch_all(t)
    assert collector.shape() == [post(1, 2, 3), post(1, 2, 3, 4)]
    assert_sent_in_order(t, [1, 2, 3, 4])


def test_retryable_batch_drops_only_the_hits_at_max_attempts(batching, collector):
    t = batching(max_attempts=2)
    t.send_n([1])
    collector.script(500)
    dispatch_all(t)  # GET n=1: one attempt
    assert t.offline_get()[0]["attempts"] == 1
    t.send_n([2, 3])
    collector.set_status(500)
    dispatch_all(t)  # POST 1,2,3: hit 1 reaches max_attempts, 2 and 3 have one attempt
    dropped = t.recorder.final_by_n()
    assert list(dropped) == [1]
    assert (dropped[1].kind, dropped[1].http_status) == (ot.EVENT_DROPPED, 500) and dropped[1].reason
    assert [(int(ot.url_param(i["hit"], "n")), i["attempts"]) for i in t.offline_get()] == [(2, 1), (3, 1)]
    collector.set_ok()
    dispatch_all(t)
    assert collector.shape() == [get(1), post(1, 2, 3), post(2, 3)]
    finals = t.recorder.final_by_n()
    assert {n: (e.kind, e.http_status) for n, e in finals.items()} == \
        {1: (ot.EVENT_DROPPED, 500), 2: (ot.EVENT_SENT, 200), 3: (ot.EVENT_SENT, 200)}
    s = t.stats()
    assert (s["sent"], s["dropped"], s["queued"]) == (2, 1, 0)


def test_retryable_batch_at_max_attempts_drops_every_hit(batching, collector):
    collector.set_status(503)
    t = batching(max_attempts=1)
    t.send_n([1, 2, 3])
    dispatch_all(t)
    assert collector.quiet_for(0.2) == []
    assert collector.shape() == [post(1, 2, 3)]
    finals = t.recorder.finals()
    assert [t.recorder.n_of(e) for e in finals] == [1, 2, 3]
    assert all((e.kind, e.http_status) == (ot.EVENT_DROPPED, 503) and e.reason for e in finals)
    s = t.stats()
    assert (s["sent"], s["dropped"], s["queued"]) == (0, 3, 0)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_rejected_batch_is_resent_hit_by_hit_and_only_refused_hits_drop(batching, collector, fmt, status):
    collector.script(status)  # the batch
    collector.refuse_hit(3, status)  # and hit 3's own GET
    t = batching(id_param="hid", max_attempts=5)
    t.send_n(range(1, 6))
    queries = queued_queries(t)
    dispatch_all(t)
    assert collector.quiet_for(0.2) == []
    assert collector.shape() == [post(1, 2, 3, 4, 5)] + [get(n) for n in range(1, 6)]
    gets = collector.requests[1:]
    assert [r.raw_query for r in gets] == [queries[n] for n in range(1, 6)]  # same ts and id as in the batch
    assert collector.requests[0].body == body(fmt, [queries[n] for n in range(1, 6)])
    finals = t.recorder.finals()
    assert [t.recorder.n_of(e) for e in finals] == [1, 2, 3, 4, 5]
    assert {t.recorder.n_of(e): (e.kind, e.http_status) for e in finals} == {
        1: (ot.EVENT_SENT, 200), 2: (ot.EVENT_SENT, 200), 3: (ot.EVENT_DROPPED, status),
        4: (ot.EVENT_SENT, 200), 5: (ot.EVENT_SENT, 200)}
    assert t.recorder.final_by_n()[3].reason
    s = t.stats()
    assert (s["sent"], s["dropped"], s["queued"]) == (4, 1, 0)


def test_rejected_batch_does_not_stop_the_next_batch(batching, collector):
    collector.script(400)
    collector.refuse_hit(2)
    t = batching(batch_max_hits=3)
    t.send_n(range(1, 7))
    dispatch_all(t)
    assert collector.shape() == [post(1, 2, 3), get(1), get(2), get(3), post(4, 5, 6)]
    finals = t.recorder.final_by_n()
    assert {n: e.kind for n, e in finals.items()} == {1: ot.EVENT_SENT, 2: ot.EVENT_DROPPED, 3: ot.EVENT_SENT,
                                                      4: ot.EVENT_SENT, 5: ot.EVENT_SENT, 6: ot.EVENT_SENT}


def test_rejected_batch_whose_hits_are_all_refused(batching, collector):
    collector.set_status(400)
    t = batching()
    t.send_n([1, 2, 3])
    dispatch_all(t)
    assert collector.shape() == [post(1, 2, 3), get(1), get(2), get(3)]
    finals = t.recorder.finals()
    assert [(t.recorder.n_of(e), e.kind, e.http_status) for e in finals] == \
        [(n, ot.EVENT_DROPPED, 400) for n in (1, 2, 3)]
    assert t.offline_count() == 0


def test_rejected_batch_with_every_hit_accepted_alone_drops_nothing(batching, collector):
    collector.script(413)
    t = batching()
    t.send_n([1, 2, 3])
    dispatch_all(t)
    assert collector.shape() == [post(1, 2, 3), get(1), get(2), get(3)]
    assert_sent_in_order(t, [1, 2, 3])
    assert t.stats()["dropped"] == 0


# ---------------------------------------------------------------- randomised partitions


def _seed():
    value = int(os.environ.get("OFFTRACK_SEED", time.time_ns() % 2**32))
    print(f"seed: OFFTRACK_SEED={value}", flush=True)
    return value


def _expected_groups(fmt, items, max_hits, max_bytes):
    """Greedy partition by §8: ('alone', n, route) for a hit that goes alone as a GET, ('batch', [n...])
    for consecutive hits in one POST."""
    groups, current = [], []  # current: (n, query) of the batch being filled

    def close():
        if current:
            groups.append(("batch", [n for n, _ in current]))
            current.clear()

    for n, route, query in items:
        if route != "/hit" or len(query.encode()) > max_bytes:
            close()
            groups.append(("alone", n, route))
            continue
        candidate = [q for _, q in current] + [query]
        if current and (len(current) >= max_hits or len(body(fmt, candidate)) > max_bytes):
            close()
        current.append((n, query))
    close()
    return groups


def _match(shape, groups, refused):
    """Checks the requests against the groups. A group of one may go as a GET or as a POST of one;
    a POST holding a refused hit is rejected, then each of its hits goes again as a GET."""
    i = 0
    for g in groups:
        if g[0] == "alone":
            assert shape[i] == get(g[1], g[2]), (i, shape[i], g)
            i += 1
            continue
        ns = g[1]
        if len(ns) == 1 and shape[i] == get(ns[0]):
            i += 1
            continue
        assert shape[i] == post(*ns), (i, shape[i], g)
        i += 1
        if refused & set(ns):
            for n in ns:
                assert shape[i] == get(n), (i, shape[i], g)
                i += 1
    assert i == len(shape), shape[i:]


@pytest.mark.parametrize("round_", range(3))
def test_random_mix_partitions_like_the_model(batching, collector, fmt, round_):
    seed = _seed()
    rng = random.Random(seed)
    max_hits = rng.randint(2, 6)
    max_bytes = rng.randint(1024, 2500)
    count = rng.randint(15, 40)
    refused = set(rng.sample(range(1, count + 1), rng.randint(0, 3)))
    collector.rule(lambda r: r.method == "POST" and refused & set(r.ns), 400)
    for n in sorted(refused):
        collector.refuse_hit(n, 400)
    t = batching(batch_max_hits=max_hits, batch_max_bytes=max_bytes, max_hit_bytes=8192)
    hits = []
    for n in range(1, count + 1):
        kind = rng.choices(["small", "padded", "large", "other", "full"], [5, 3, 1, 1, 1])[0]
        if kind == "small":
            hits.append(f"n={n}")
        elif kind == "padded":
            hits.append(f"n={n}&p=" + "y" * rng.randint(100, 600))
        elif kind == "large":
            hits.append(f"n={n}&p=" + "z" * rng.randint(max_bytes, max_bytes + 500))
        elif kind == "other":
            hits.append(f"{collector.url}/other?n={n}")
        else:
            hits.append(f"{collector.url}/hit?n={n}")
    t.send_ok(*hits)
    items = [(int(ot.url_param(i["hit"], "n")), urllib.parse.urlsplit(i["hit"]).path, query_of(i["hit"]))
             for i in t.offline_get()]
    queries = {n: q for n, _, q in items}
    dispatch_all(t)
    context = f"seed={seed} max_hits={max_hits} max_bytes={max_bytes} refused={sorted(refused)} hits={hits}"
    try:
        _match(collector.shape(), _expected_groups(fmt, items, max_hits, max_bytes), refused)
        for req in collector.requests:
            if req.method == "POST":
                assert req.body == body(fmt, [queries[n] for n in req.ns])
                assert len(req.body) <= max_bytes and len(req.ns) <= max_hits
            else:
                assert req.raw_query == queries[req.n]
        finals = t.recorder.final_by_n()
        assert sorted(finals) == list(range(1, count + 1))
        assert [t.recorder.n_of(e) for e in t.recorder.finals()] == list(range(1, count + 1))
        for n, e in finals.items():
            assert e.kind == (ot.EVENT_DROPPED if n in refused else ot.EVENT_SENT), (n, e)
    except AssertionError as e:
        e.add_note(f"replay with OFFTRACK_SEED={seed}; {context}")
        raise


# ---------------------------------------------------------------- config


@pytest.mark.parametrize("overrides", [
    {"batch_endpoint": ""},
    {"batch_endpoint": "{url}/hit"},
    {"batch_endpoint": "{url}/batch?app=demo"},
    {"batch_endpoint": "{url}/batch", "batch_format": "lines"},
    {"batch_endpoint": "{url}/batch", "batch_format": "json"},
    {"batch_max_hits": 1}, {"batch_max_hits": 10000},
    {"batch_max_bytes": 1024}, {"batch_max_bytes": 16777216},
])
def test_batch_config_values_accepted(lib, tracker_config, collector, overrides):
    cfg = tracker_config(**{k: v.format(url=collector.url) if isinstance(v, str) else v
                            for k, v in overrides.items()})
    rc, handle, err = ot.create_raw(lib, cfg)
    assert rc == ot.OK, err
    lib.tracker_destroy(handle)


def _other_origins(collector):
    other_port = collector.port + 1 if collector.port < 65535 else collector.port - 1
    return {
        "other-port": f"http://127.0.0.1:{other_port}/batch",
        "other-scheme": f"https://127.0.0.1:{collector.port}/batch",
        "other-host": f"http://localhost:{collector.port}/batch",
        "foreign-host": "http://example.invalid/batch",
    }


@pytest.mark.parametrize("which", ["other-port", "other-scheme", "other-host", "foreign-host"])
def test_batch_endpoint_on_another_origin_is_a_config_error(lib, tracker_config, collector, which):
    rc, handle, err = ot.create_raw(lib, tracker_config(batch_endpoint=_other_origins(collector)[which]))
    if rc == ot.OK:
        lib.tracker_destroy(handle)
    assert rc == ot.ERROR_CONFIG
    assert not handle.value
    assert "batch_endpoint" in err


@pytest.mark.parametrize("key,value", [
    ("batch_endpoint", "not a url"), ("batch_endpoint", "/batch"), ("batch_endpoint", "{url}/batch#frag"),
    ("batch_format", "xml"), ("batch_format", ""), ("batch_format", "LINES"), ("batch_format", "form"),
    ("batch_max_hits", 0), ("batch_max_hits", 10001), ("batch_max_hits", -1),
    ("batch_max_bytes", 1023), ("batch_max_bytes", 16777217), ("batch_max_bytes", 0),
])
def test_bad_batch_values_are_config_errors(lib, tracker_config, collector, key, value):
    if isinstance(value, str):
        value = value.format(url=collector.url)
    overrides = {"batch_endpoint": collector.url + "/batch", key: value}
    rc, handle, err = ot.create_raw(lib, tracker_config(**overrides))
    if rc == ot.OK:
        lib.tracker_destroy(handle)
    assert rc == ot.ERROR_CONFIG
    assert key in err
