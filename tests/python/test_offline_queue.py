"""The offline-queue calls and tracker_stats."""

import threading
import time

import offtrack as ot

ITEM_KEYS = {"id", "hit", "created", "attempts"}
STATS_KEYS = ["queued", "queued_bytes", "sent", "stored", "dropped", "failed_attempts", "online", "storage",
              "opt_out", "last_error", "last_success_ms", "worker_restarts", "store_resets"]
COUNTERS = ["queued", "queued_bytes", "sent", "stored", "dropped", "failed_attempts", "worker_restarts",
            "store_resets"]


def test_empty_queue(make_tracker, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    assert t.offline_count() == 0
    assert t.offline_get_json(10).strip() == "[]"
    assert t.offline_oldest_json().strip() == "null"
    assert t.offline_latest_json().strip() == "null"
    assert t.offline_delete() == 0
    assert t.offline_delete_older_than(0) == 0


def test_queue_contents(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    before_ms = int(time.time() * 1000)
    t.send_n(range(1, 6))
    after_ms = int(time.time() * 1000)
    assert t.offline_count() == 5

    items = t.offline_get(3)
    assert [ot.url_param(i["hit"], "n") for i in items] == ["1", "2", "3"]
    everything = t.offline_get(100)
    assert len(everything) == 5
    for k, item in enumerate(everything, start=1):
        assert set(item) == ITEM_KEYS
        assert isinstance(item["id"], int) and isinstance(item["created"], int)
        assert isinstance(item["attempts"], int) and item["attempts"] == 0
        assert item["hit"].startswith(collector.endpoint + "?")
        assert ot.url_param(item["hit"], "n") == str(k)
        assert before_ms - 1 <= item["created"] <= after_ms + 1
    ids = [i["id"] for i in everything]
    assert ids == sorted(set(ids))
    assert t.offline_get(1) == everything[:1]
    assert t.offline_oldest() == everything[0]
    assert t.offline_latest() == everything[-1]
    assert collector.count == 0


def test_offline_delete(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n(range(1, 6))
    assert t.flush() == ot.OK
    assert t.offline_delete() == 5
    assert t.offline_count() == 0
    assert t.offline_oldest() is None
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.count == 0


def test_offline_delete_older_than(make_tracker, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n([1, 2])
    sent_at = time.time()
    while time.time() < sent_at + 1.5:
        time.sleep(0.05)
    t.send_n([3, 4])
    assert t.offline_delete_older_than(3600) == 0
    assert t.offline_delete_older_than(1) == 2
    assert t.offline_ns() == [3, 4]


def test_queue_calls_do_not_wait_for_a_request_in_flight(make_tracker, collector, storage_dir):
    collector.set_hang()
    t = make_tracker(storage="required", storage_path=storage_dir, request_timeout_seconds=10,
                     shutdown_timeout_ms=300)
    t.send_n([1])
    collector.wait_for(1)
    started = time.monotonic()
    assert t.offline_count() == 1  # written before tracker_send returned
    assert len(t.offline_get()) == 1
    assert t.offline_oldest() is not None
    assert t.offline_latest() is not None
    assert isinstance(t.stats(), dict)
    assert time.monotonic() - started < 0.5


def test_hits_are_written_before_send_returns(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir)
    t.send_n([1, 2, 3])
    assert t.offline_count() == 3


# ---------------------------------------------------------------- stats


def test_stats_keys_and_types(make_tracker):
    s = make_tracker().stats()
    for key in STATS_KEYS:
        assert key in s, key
    for key in COUNTERS:
        assert isinstance(s[key], int) and not isinstance(s[key], bool), (key, s[key])
        assert s[key] == 0, (key, s[key])
    assert s["online"] is True
    assert s["opt_out"] is False
    assert s["storage"] in (0, "never")


def test_stats_storage_follows_the_mode(make_tracker, storage_dir):
    t = make_tracker(storage_path=storage_dir)
    for mode, name in [(1, "required"), (2, "always"), (0, "never")]:
        assert t.set_storage(mode) == ot.OK
        assert t.stats()["storage"] in (mode, name)


def test_stats_counters(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir)
    before_ms = int(time.time() * 1000)
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    after_ms = int(time.time() * 1000)
    s = t.stats()
    assert (s["sent"], s["queued"], s["queued_bytes"], s["stored"], s["dropped"]) == (2, 0, 0, 0, 0)
    assert before_ms <= s["last_success_ms"] <= after_ms
    assert s["online"] is True

    collector.set_status(400)
    t.send_n([3])
    assert t.flush() == ot.OK
    s = t.stats()
    assert (s["sent"], s["dropped"]) == (2, 1)

    collector.down()
    t.send_n([4, 5])
    assert t.flush() == ot.OK
    s = t.stats()
    assert (s["queued"], s["stored"], s["sent"], s["dropped"]) == (2, 2, 2, 1)
    # The sum of the stored URLs: at least endpoint + hit, at most the URLs as they will be sent plus
    # a little per hit.
    base = sum(len(f"{collector.endpoint}?n={k}") for k in (4, 5))
    as_sent = sum(len(i["hit"].encode()) for i in t.offline_get())
    assert base <= s["queued_bytes"] <= as_sent + 2 * 64
    assert s["online"] is False
    assert isinstance(s["last_error"], str) and s["last_error"] != ""
    assert s["worker_restarts"] == 0 and s["store_resets"] == 0


def test_stats_failed_attempts(make_tracker, collector, storage_dir):
    collector.set_status(500)
    t = make_tracker(storage="required", storage_path=storage_dir, max_attempts=2)
    t.send_n([1])
    t.recorder.wait_final([1])
    s = t.stats()
    assert s["failed_attempts"] == 2
    assert (s["dropped"], s["stored"], s["sent"], s["queued"]) == (1, 1, 0, 0)


def test_stats_opt_out_and_online_flags(make_tracker, storage_dir):
    t = make_tracker(storage_path=storage_dir)
    assert t.set_online(False) == ot.OK
    assert t.stats()["online"] is False
    assert t.set_opt_out(True) == ot.OK
    assert t.stats()["opt_out"] is True
    assert t.set_opt_out(False) == ot.OK
    assert t.stats()["opt_out"] is False


def test_queue_calls_from_other_threads_while_sending(make_tracker, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    stop = threading.Event()
    errors = []

    def reader():
        while not stop.is_set():
            try:
                t.offline_count()
                ns = [int(ot.url_param(i["hit"], "n")) for i in t.offline_get(50)]
                if ns != list(range(1, len(ns) + 1)):
                    errors.append(ns)
                t.offline_oldest()
                t.offline_latest()
                t.stats()
            except Exception as exc:
                errors.append(repr(exc))

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        t.send_n(range(1, 301))
    finally:
        stop.set()
        for r in readers:
            r.join()
    assert errors == []
    assert t.offline_ns() == list(range(1, 301))
