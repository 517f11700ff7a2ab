"""10k hits in required mode while the collector goes down and up every
50-200 ms: nothing lost, first arrivals in order, duplicates counted."""

import os
import time

import pytest

import rel
import offtrack as ot
from test_kill9 import Flapper

HITS = int(os.environ.get("OFFTRACK_FLAP_HITS", "100000" if rel.SOAK else "10000"))


@pytest.mark.timeout(900 if rel.SOAK else 300)
def test_flapping_collector_loses_nothing_and_keeps_order(make_tracker, collector, storage_dir):
    rel.run_seeded(_flapping_collector, make_tracker, collector, storage_dir)


def _flapping_collector(make_tracker, collector, storage_dir, rng):
    t = make_tracker(storage="required", storage_path=storage_dir, id_param="hid", max_queue_hits=HITS * 2)
    flapper = Flapper(collector, rng).start()
    started = time.monotonic()
    try:
        for start in range(0, HITS, 20):
            t.send_n(range(start, min(start + 20, HITS)))
            time.sleep(0.01)
        time.sleep(2)
    finally:
        flapper.stop()
    assert t.dispatch() == ot.OK
    ot.wait_until(lambda: t.offline_count() == 0, timeout=240, interval=0.1, message="queue drained")
    assert t.flush(20000) == ot.OK
    finals = t.recorder.wait_final(range(HITS), timeout=30)
    elapsed = time.monotonic() - started

    ns = [r.n for r in collector.requests]
    arrived = set(ns)
    lost = sorted(set(range(HITS)) - arrived)
    firsts, seen = [], set()
    for n in ns:
        if n not in seen:
            seen.add(n)
            firsts.append(n)
    out_of_order = sum(1 for a, b in zip(firsts, firsts[1:]) if b < a)
    duplicates = len(ns) - len(arrived)
    not_sent = [n for n, e in finals.items() if e.kind != ot.EVENT_SENT]
    rel.figure("flapping", hits=HITS, flips=flapper.flips, arrivals=len(ns), lost=len(lost),
               duplicates=duplicates, out_of_order=out_of_order, seconds=round(elapsed, 1),
               stored_events=len(t.recorder.of_kind(ot.EVENT_STORED)))
    assert not lost, f"{len(lost)} hits never arrived, e.g. {lost[:20]}"
    assert out_of_order == 0, f"first arrivals not increasing: {firsts[:50]}"
    assert not not_sent, f"hits whose final event is not SENT: {not_sent[:20]}"
    assert flapper.flips >= 10
