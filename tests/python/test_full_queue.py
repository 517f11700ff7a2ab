"""A queue at its limits: tracker_send leaves the eviction to the worker
(docs/queue.md "Queue limits"), yet from outside the limits are exact: after any
send returns, the offline calls and stats show exactly the newest hits up
to the limit, the oldest are the ones dropped, each with one DROPPED event
naming the limit, and the survivors keep their order."""

import pytest

import offtrack as ot

QUEUE_FULL = "queue full (max_queue_hits / max_queue_bytes)"


def _dropped(t, ns):
    finals = t.recorder.wait_final(ns)
    return {n: (e.kind, e.reason) for n, e in finals.items()}


@pytest.mark.parametrize("mode", ["always", "required"])
def test_count_limit_is_exact_after_every_send(make_tracker, collector, storage_dir, mode):
    collector.down()
    t = make_tracker(storage=mode, storage_path=storage_dir, max_queue_hits=5)
    for n in range(1, 31):
        assert t.send(f"n={n}") == ot.OK
        # No waiting: what the offline calls show right after the send.
        want = list(range(max(1, n - 4), n + 1))
        assert t.offline_count() == len(want), n
        assert t.offline_ns() == want, n
        assert ot.url_param(t.offline_oldest()["hit"], "n") == str(want[0])
        assert ot.url_param(t.offline_latest()["hit"], "n") == str(n)
        assert t.stats()["queued"] == len(want)
    assert t.flush() == ot.OK
    finals = _dropped(t, range(1, 26))
    assert finals == {n: (ot.EVENT_DROPPED, QUEUE_FULL) for n in range(1, 26)}
    # One final event per hit: none for the survivors yet, none twice.
    assert set(t.recorder.final_by_n()) == set(range(1, 26))
    assert len(t.recorder.finals()) == 25
    collector.up()
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.ns() == list(range(26, 31))
    # Delivered late, each with the time it was made.
    assert all(r.param("ts") is not None for r in collector.requests)


def test_byte_limit_is_exact_after_every_send(make_tracker, collector, storage_dir):
    hits = [f"n={k}&pad=" + "x" * (40 + 7 * (k % 5)) for k in range(1, 41)]
    sizes = [len(collector.endpoint) + 1 + len(h) for h in hits]
    limit = 1000
    t = make_tracker(storage="always", storage_path=storage_dir, max_queue_bytes=limit)
    for i, h in enumerate(hits):
        assert t.send(h) == ot.OK
        # The newest hits whose URLs add up to at most the limit.
        keep, total = [], 0
        for j in range(i, -1, -1):
            if total + sizes[j] > limit and keep:
                break
            total += sizes[j]
            keep.insert(0, j + 1)
        assert t.offline_ns() == keep, i
        stats = t.stats()
        assert stats["queued"] == len(keep) and stats["queued_bytes"] == total, (i, stats)
    assert t.flush() == ot.OK
    gone = [n for n in range(1, 41) if n < keep[0]]
    assert _dropped(t, gone) == {n: (ot.EVENT_DROPPED, QUEUE_FULL) for n in gone}


def test_full_queue_evicts_on_the_worker_and_drops_each_hit_once(make_tracker, collector, storage_dir):
    """A burst far past the limit: the worker evicts; every evicted hit gets
    exactly one DROPPED event with its id, the survivors are the newest in
    order, and nothing evicted is ever delivered."""
    collector.down()
    t = make_tracker(storage="always", storage_path=storage_dir, max_queue_hits=100)
    t.send_n(range(5000))
    assert t.flush() == ot.OK
    assert t.offline_ns() == list(range(4900, 5000))
    # Past the event text budget (4096) DROPPED events carry the id only:
    # judged by ids, which a fresh store hands out from 1.
    events = t.recorder.wait_for(
        lambda evs: sum(e.kind == ot.EVENT_DROPPED for e in evs) >= 4900, timeout=20,
        message="4900 DROPPED events")
    dropped = [e for e in events if e.kind == ot.EVENT_DROPPED]
    assert all(e.reason == QUEUE_FULL for e in dropped)
    assert sorted(e.id for e in dropped) == list(range(1, 4901)), "one DROPPED per evicted hit, oldest first"
    assert [e.id for e in dropped] == sorted(e.id for e in dropped), "dropped in queue order"
    survivors = t.offline_get()
    assert [h["id"] for h in survivors] == list(range(4901, 5001))
    collector.up()
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.ns() == list(range(4900, 5000))


def test_flood_at_a_full_queue_keeps_the_newest_and_drops_the_rest_in_order(make_tracker, collector, storage_dir):
    """A flood of large hits at a full queue outruns the worker's moves into
    the store, which then drop whole batches unwritten: still the newest
    survive in order, and every other hit gets one DROPPED event, oldest
    first."""
    collector.down()
    t = make_tracker(storage="always", storage_path=storage_dir, max_queue_hits=200)
    total = 40_000
    t.send_n(range(total), pad="x" * 600)
    assert t.flush() == ot.OK
    assert t.offline_ns() == list(range(total - 200, total))
    events = t.recorder.wait_for(
        lambda evs: sum(e.kind == ot.EVENT_DROPPED for e in evs) >= total - 200, timeout=30,
        message=f"{total - 200} DROPPED events")
    dropped = [e.id for e in events if e.kind == ot.EVENT_DROPPED]
    assert dropped == list(range(1, total - 200 + 1)), "one DROPPED per dropped hit, oldest first"
    collector.up()
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.ns() == list(range(total - 200, total))


def test_limit_holds_while_a_drain_is_running(make_tracker, collector, storage_dir):
    """Sends during a slow drain: the worker evicts before each request, so
    the collector never gets a hit that was over the limit when it was sent."""
    collector.set_status(200)
    t = make_tracker(storage="required", storage_path=storage_dir, max_queue_hits=10,
                     send_interval_ms=20)
    t.send_n(range(200))
    assert t.flush(20000) == ot.OK
    ot.wait_until(lambda: t.offline_count() == 0, timeout=20)
    assert t.flush() == ot.OK
    got = collector.ns()
    assert got == sorted(got) and len(got) == len(set(got))
    finals = t.recorder.final_by_n()
    assert {n for n, e in finals.items() if e.kind == ot.EVENT_SENT} == set(got)
    assert all(e.reason == QUEUE_FULL for n, e in finals.items() if e.kind == ot.EVENT_DROPPED)
    assert set(finals) == set(range(200))
    assert got[-10:] == list(range(190, 200))


def test_reopened_store_over_its_limit_shows_only_the_newest(lib, collector, storage_dir):
    """A store left over the limit (a larger limit before, or a crash before
    the worker evicted) is cut to the newest hits before anything shows it."""
    cfg = dict(endpoint=collector.endpoint, storage="always", storage_path=str(storage_dir))
    t = ot.Tracker.create(lib, dict(cfg, max_queue_hits=50))
    t.send_n(range(40))
    assert t.flush() == ot.OK
    t.destroy()
    t = ot.Tracker.create(lib, dict(cfg, max_queue_hits=10))
    try:
        assert t.offline_count() == 10
        assert t.offline_ns() == list(range(30, 40))
        assert t.dispatch() == ot.OK
        assert t.flush() == ot.OK
        assert collector.ns() == list(range(30, 40))
        dropped = {n: e.reason for n, e in t.recorder.final_by_n().items() if e.kind == ot.EVENT_DROPPED}
        assert dropped == {n: QUEUE_FULL for n in range(30)}
    finally:
        t.destroy()
