"""8 threads send 100k hits while another thread flips required/always and
dispatches: every accepted hit is delivered or still stored, nothing
deadlocks (the scenario runs in a child process under a watchdog)."""

import os

import pytest

import rel

THREADS = 8
TOTAL = int(os.environ.get("OFFTRACK_CONC_HITS", "1000000" if rel.SOAK else "100000"))
WATCHDOG_S = 240 if rel.SOAK else 120


@pytest.mark.timeout(WATCHDOG_S + 60)
def test_concurrent_senders_and_mode_flips(tmp_path):
    proc = rel.run_child("concurrency_child.py",
                         [tmp_path / "store", THREADS, TOTAL // THREADS, WATCHDOG_S], timeout=WATCHDOG_S + 30)
    assert proc.returncode == 0, (f"child failed (rc={proc.returncode}; a watchdog exit dumps every "
                                  f"thread's stack):\n{proc.stderr[-8000:]}")
    out = rel.last_json_line(proc.stdout)
    accepted = [n for per in out["accepted"] for n in per]
    arrived, stored = set(out["arrivals"]), set(out["stored"])
    missing = sorted(set(accepted) - arrived - stored)
    duplicates = len(out["arrivals"]) - len(arrived)
    # Hits of one thread were appended in order, and the store is FIFO.
    firsts, seen = [], set()
    for n in out["arrivals"]:
        if n not in seen:
            seen.add(n)
            firsts.append(n)
    per_thread_disorder = 0
    last = {}
    for n in firsts:
        th = n // 10_000_000
        if last.get(th, -1) > n:
            per_thread_disorder += 1
        last[th] = n
    rel.figure("concurrency", threads=THREADS, accepted=len(accepted), refused=out["error_count"],
               delivered=len(arrived), still_stored=len(stored), lost=len(missing), duplicates=duplicates,
               mode_flips=out["flips"], dispatches=out["dispatches"], send_seconds=round(out["send_seconds"], 1),
               destroy_ms=round(out["destroy_ms"]))
    assert out["error_count"] == 0, out["errors"]
    assert len(accepted) == TOTAL
    assert not missing, f"{len(missing)} accepted hits neither delivered nor stored, e.g. {missing[:20]}"
    assert not (stored - set(accepted)), "the store holds hits that were never accepted"
    assert per_thread_disorder == 0
    assert out["flips"] > 10 and out["dispatches"] > 3
