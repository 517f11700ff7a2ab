"""Queue limits, memory limit, hit size limit and age limit."""

import time

import offtrack as ot


def test_max_queue_hits_drops_the_oldest(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir, max_queue_hits=3)
    t.send_n(range(1, 6))
    assert t.flush() == ot.OK
    ot.wait_until(lambda: t.offline_count() == 3, message="queue trimmed to 3")
    assert t.offline_ns() == [3, 4, 5]
    finals = t.recorder.wait_final([1, 2])
    assert all(e.kind == ot.EVENT_DROPPED and e.reason for e in finals.values())
    assert set(t.recorder.final_by_n()) == {1, 2}
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.ns() == [3, 4, 5]


def test_max_queue_hits_while_offline_in_required_mode(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir, max_queue_hits=2)
    t.send_n(range(1, 5))
    assert t.flush() == ot.OK
    ot.wait_until(lambda: t.offline_count() == 2, message="queue trimmed to 2")
    assert t.offline_ns() == [3, 4]
    collector.up()
    assert t.set_online(True) == ot.OK
    t.recorder.wait_final(range(1, 5))
    assert collector.ns() == [3, 4]
    kinds = {n: e.kind for n, e in t.recorder.final_by_n().items()}
    assert kinds == {1: ot.EVENT_DROPPED, 2: ot.EVENT_DROPPED, 3: ot.EVENT_SENT, 4: ot.EVENT_SENT}


def test_max_queue_bytes_drops_the_oldest(make_tracker, collector, storage_dir):
    hits = [f"n={k}&pad=" + "x" * 80 for k in range(1, 7)]
    url_len = len(collector.endpoint) + 1 + len(hits[0])
    limit = 3 * url_len + url_len // 2  # three hits fit (with some overhead per hit), four do not
    t = make_tracker(storage="always", storage_path=storage_dir, max_queue_bytes=limit)
    t.send_ok(*hits)
    assert t.flush() == ot.OK
    ot.wait_until(lambda: t.offline_count() == 3, message="queue trimmed to 3")
    assert t.offline_ns() == [4, 5, 6]
    finals = t.recorder.wait_final([1, 2, 3])
    assert all(e.kind == ot.EVENT_DROPPED for e in finals.values())
    assert t.stats()["queued_bytes"] <= limit


def test_max_memory_hits_in_never_mode(make_tracker, collector):
    collector.set_hang()
    t = make_tracker(max_memory_hits=3, request_timeout_seconds=3)
    t.send_n([1])
    collector.wait_for(1)  # hit 1 is in flight; the others wait in memory
    t.send_n(range(2, 7))
    collector.release(200)
    t.recorder.wait_final(range(1, 7), timeout=8)
    finals = t.recorder.final_by_n()
    assert {n: finals[n].kind for n in range(2, 7)} == {
        2: ot.EVENT_DROPPED, 3: ot.EVENT_DROPPED, 4: ot.EVENT_SENT, 5: ot.EVENT_SENT, 6: ot.EVENT_SENT}
    assert finals[2].reason and finals[3].reason
    assert collector.ns() == [1, 4, 5, 6]


def test_max_hit_bytes_limits_the_final_url(lib, make_tracker, collector):
    t = make_tracker(timestamp_param="", max_hit_bytes=200)
    prefix = collector.endpoint + "?"
    fits = "n=1&p=" + "x" * (200 - len(prefix) - 6)
    assert len(prefix + fits) == 200
    t.send_ok(fits)
    assert t.send(fits + "x") == ot.ERROR_INVALID_ARGUMENT
    assert ot.last_error(lib) != ""
    assert t.flush() == ot.OK
    assert collector.ns() == [1]
    assert len(collector.url + collector.requests[0].path) == 200


def test_max_hit_bytes_includes_the_timestamp_param(lib, make_tracker, collector):
    t = make_tracker(max_hit_bytes=200)
    prefix = collector.endpoint + "?"
    exactly_200_without_ts = "n=1&p=" + "x" * (200 - len(prefix) - 6)
    assert t.send(exactly_200_without_ts) == ot.ERROR_INVALID_ARGUMENT
    room_for_ts = "n=2&p=" + "x" * (200 - len(prefix) - 6 - 20)
    t.send_ok(room_for_ts)
    assert t.flush() == ot.OK
    assert collector.ns() == [2]


def test_max_hit_bytes_counts_percent_encoding(lib, make_tracker, collector):
    t = make_tracker(timestamp_param="", max_hit_bytes=200)
    hit = "n=1&p=" + "é" * 40  # 86 bytes raw, 246 characters once encoded
    assert len(collector.endpoint + "?" + hit) < 200
    assert t.send(hit) == ot.ERROR_INVALID_ARGUMENT


def test_default_max_hit_bytes(make_tracker, collector):
    t = make_tracker()
    assert t.send("n=1&p=" + "x" * 8200) == ot.ERROR_INVALID_ARGUMENT
    t.send_ok("n=2&p=" + "x" * 7000)
    assert t.flush() == ot.OK
    assert collector.ns() == [2]


def test_max_age_seconds_drops_old_hits(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir, max_age_seconds=1)
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    sent_at = time.time()
    while time.time() < sent_at + 1.5:
        time.sleep(0.05)
    t.send_n([3])
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.ns() == [3]
    finals = t.recorder.wait_final([1, 2, 3])
    assert {n: e.kind for n, e in finals.items()} == {1: ot.EVENT_DROPPED, 2: ot.EVENT_DROPPED, 3: ot.EVENT_SENT}
    assert finals[1].reason and finals[2].reason
    assert t.offline_count() == 0
