"""Crashes while the store creates or replaces something on disk: no
sequence of kills may leave a storage directory that cannot be opened, lose
an acknowledged hit, or leave anything reachable by other users.

A child (creation_child.py) is SIGKILLed at random moments while it creates
trackers on fresh directories, and while it drains and deletes past the
fresh-generation threshold on one directory. A half-created database of an
older version (what such a kill left before generations were built aside)
is moved aside and its intake's hits come back.

Randomised: the seed is printed and OFFTRACK_SEED replays it."""

import os
import shutil
import signal
import stat

import pytest

import creation_child
import rel
import offtrack as ot
from test_intake import N, _crash_with_hits_in_intake, _ns, _probe

CREATE_KILLS = int(os.environ.get("OFFTRACK_CREATION_KILLS", "400" if rel.SOAK else "120"))
DRAIN_KILLS = int(os.environ.get("OFFTRACK_GENERATION_KILLS", "300" if rel.SOAK else "100"))
DEAD = "http://127.0.0.1:9/hit"  # nothing listens: hits stay stored


def _damaged(path):
    return sorted(d for d in os.listdir(path) if d.startswith("damaged-"))


def _reachable_by_others(path):
    """Entries of a storage directory another user could reach: the
    directory itself and its direct entries must be owner-only (whatever
    lies deeper sits inside an owner-only directory)."""
    found = []
    mode = stat.S_IMODE(os.lstat(path).st_mode)
    if mode != 0o700:
        found.append((".", oct(mode)))
    for name in os.listdir(path):
        st = os.lstat(os.path.join(path, name))
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) & ~want & 0o777:
            found.append((name, oct(stat.S_IMODE(st.st_mode))))
    return found


def _ks(records):
    return [int(ot.url_param(r["hit"], "k")) for r in records]


@pytest.mark.timeout(CREATE_KILLS * 3 + 120)
def test_kills_while_creating_stores_leave_every_directory_openable(lib, tmp_path):
    rel.run_seeded(_kills_while_creating, lib, tmp_path)


def _kills_while_creating(lib, tmp_path, rng):
    kills = dirs_checked = acked_total = unacked_kept = 0
    mid_create = 0  # kills that left a directory with no finished generation
    for run in range(CREATE_KILLS):
        base = tmp_path / f"run{run}"
        # A create, three sends and a destroy take ≈10-30 ms: kills land
        # on every step of a store's creation, opening and closing.
        rc, lines, err = rel.run_until_killed(
            "creation_child.py", ["create", DEAD, base, run * 1000], rng.uniform(0.0, 0.12))
        assert rc == -signal.SIGKILL, f"run {run}: child ended by itself (rc={rc}):\n{err[-3000:]}"
        assert "create failed" not in err, f"run {run}: {err[-3000:]}"
        assert not [line for line in err.splitlines() if line.startswith("send ")], err[-3000:]
        kills += 1
        acked = {}
        announced = []
        for line in lines:
            words = line.split()
            if words[0] == "dir":
                announced.append(int(words[1]))
            elif words[0] == "ack":
                acked.setdefault(int(words[1]), []).append(int(words[2]))
        for i in announced:
            path = base / f"d{i}"
            if not path.exists():
                assert not acked.get(i), f"run {run}: d{i} is gone but had acknowledged hits"
                continue
            mid_create += not (path / "queue").exists()
            assert not _reachable_by_others(path), f"run {run} d{i}: {_reachable_by_others(path)}"
            t = ot.Tracker.create(lib, rel.config(DEAD, storage="required", storage_path=path))
            try:
                stored = _ks(t.offline_get())
                resets = t.stats()["store_resets"]
            finally:
                t.destroy()
            want = acked.get(i, [])
            sent = [run * 1000 + 3 * i + j for j in range(3)]  # what the child sends to d<i>
            # Every acknowledged hit, in order; beyond them at most the one
            # whose send the kill interrupted.
            assert want == sent[:len(want)], f"run {run} d{i}: acknowledged {want}"
            assert stored == sent[:len(stored)] and len(want) <= len(stored) <= len(want) + 1, \
                f"run {run} d{i}: acknowledged {want}, stored {stored}"
            extra = stored[len(want):]
            assert resets == 0 and not _damaged(path), f"run {run} d{i}: a generation was damaged"
            leftovers = [n for n in os.listdir(path) if n.startswith("queue.")]
            assert not leftovers, f"run {run} d{i}: left after a clean open and close: {leftovers}"
            dirs_checked += 1
            acked_total += len(want)
            unacked_kept += len(extra)
        shutil.rmtree(base, ignore_errors=True)
    rel.figure("kill_creating", kills=kills, directories=dirs_checked, killed_mid_creation=mid_create,
               acknowledged=acked_total, unacknowledged_kept=unacked_kept, lost=0, store_resets=0)
    assert mid_create > 0, "no kill landed while a store was being created"


@pytest.mark.timeout(DRAIN_KILLS * 4 + 180)
def test_kills_while_replacing_generations_lose_nothing(lib, collector, storage_dir):
    rel.run_seeded(_kills_while_replacing, lib, collector, storage_dir)


def _kills_while_replacing(lib, collector, storage_dir, rng):
    acked, deleted, maybe_deleted = [], set(), set()
    kills = 0
    leftovers_seen = {}
    for run in range(DRAIN_KILLS):
        # Every fourth run lives until it has drained and deleted once, so
        # deletes happen and the backlog of killed drains is cleared even
        # when a busy machine makes drains slow.
        rc, lines, err = rel.run_until_killed(
            "creation_child.py", ["drain", collector.endpoint, storage_dir, run * 1_000_000],
            rng.uniform(0.0, 0.5), ready="deleted " if run % 4 == 3 else "ready", timeout=120)
        assert rc == -signal.SIGKILL, f"run {run}: child ended by itself (rc={rc}):\n{err[-3000:]}"
        assert "create failed" not in err, f"run {run}: {err[-3000:]}"
        bad = [line for line in err.splitlines() if line.startswith(("send ", "delete failed"))]
        assert not bad, f"run {run}: {bad[:5]}"
        kills += 1
        for line in lines:
            words = line.split()
            if words[0] == "ack":
                acked.append(int(words[1]))
            elif words[0] in ("deleting", "deleted"):
                span = set(range(int(words[1]), int(words[2]) + 1))
                (maybe_deleted if words[0] == "deleting" else deleted).update(span)
        for name in os.listdir(storage_dir):
            if name.startswith("queue."):
                leftovers_seen[name] = leftovers_seen.get(name, 0) + 1
        assert not _reachable_by_others(storage_dir), f"run {run}: {_reachable_by_others(storage_dir)}"
        assert not _damaged(storage_dir), f"run {run}: a generation was damaged: {_damaged(storage_dir)}"

    t = ot.Tracker.create(lib, rel.config(collector.endpoint, storage="always", storage_path=storage_dir,
                                          id_param="hid", max_queue_bytes=creation_child.DRAIN_QUEUE_BYTES))
    try:
        assert t.stats()["store_resets"] == 0
        assert t.dispatch() == ot.OK
        ot.wait_until(lambda: t.offline_count() == 0, timeout=120, interval=0.1,
                      message="the stored queue to drain after the kills")
        assert t.flush(10000) == ot.OK
    finally:
        t.destroy()
    assert not t.recorder.errors, t.recorder.errors
    assert not [n for n in os.listdir(storage_dir) if n.startswith("queue.")]

    ks = [int(r.param("k")) for r in collector.requests if r.param("k") is not None]
    arrived = set(ks)
    must_arrive = set(acked) - deleted - maybe_deleted
    lost = sorted(must_arrive - arrived)
    resurrected = sorted(deleted & arrived)
    rel.figure("kill_replacing", kills=kills, acknowledged=len(acked), deleted=len(deleted),
               interrupted_deletes=len(maybe_deleted - deleted), arrived=len(arrived), lost=len(lost),
               duplicates=len(ks) - len(arrived), resurrected=len(resurrected),
               left_by_kills=sorted(leftovers_seen.items()))
    assert acked and deleted, "the child never got through a send and a delete"
    assert not lost, f"{len(lost)} acknowledged hits never arrived, e.g. {lost[:20]}"
    assert not resurrected, f"deleted hits were delivered: {resurrected[:20]}"


def test_half_created_database_of_an_older_version_is_moved_aside(collector, tmp_path):
    """What a kill during fjall's own creation left behind before this was
    fixed: `queue/` with a lock file, an empty keyspaces folder and a
    preallocated journal but no version marker. fjall cannot open it; it is
    moved aside (kept), a fresh queue starts, and the hits of the intake
    files come back."""
    collector.down()
    try:
        store, _started, _killed, snap = _crash_with_hits_in_intake(collector.endpoint, tmp_path, N)
    finally:
        collector.up()
    in_intake = sorted({int(ot.url_param(url, "n")) for _, entries in snap.values() for _, url in entries})
    shutil.rmtree(store / "queue")
    (store / "queue" / "keyspaces").mkdir(parents=True)
    (store / "queue" / "lock").write_bytes(b"")
    with open(store / "queue" / "0.jnl", "wb") as f:
        f.truncate(64 * 1024 * 1024)
    ids_before = int((store / "IDS").read_text()) if (store / "IDS").exists() else 0

    out = _probe(rel.config(DEAD, storage="always", storage_path=os.fspath(store)))
    assert out["create"] == ot.OK, out
    assert out["stats_at_open"]["store_resets"] == 1, out
    damaged = _damaged(store)
    assert len(damaged) == 1, damaged
    assert sorted(os.listdir(store / damaged[0])) == ["0.jnl", "keyspaces", "lock"]
    assert _ns(out["hits"]) == in_intake, (out["hits"][:5], in_intake[:5])
    assert len(in_intake) > 0
    # Ids stay unique: new ones are above anything handed out before.
    again = _probe(rel.config(DEAD, storage="always", storage_path=os.fspath(store)), "n=100000")
    assert again["create"] == ot.OK and again["stats_at_open"]["store_resets"] == 0, again
    assert again["ids"][-1] >= ids_before + 2**32, (again["ids"], ids_before)
    assert not _reachable_by_others(store)
    rel.figure("half_created_queue", intake_hits=len(in_intake), moved_to=damaged[0])


def test_store_reopens_after_being_left_at_every_step_of_a_replacement(collector, tmp_path, lib):
    """The directory states a kill can leave between the steps of replacing
    a generation, made by hand: each opens with its hits and without a reset."""
    store = tmp_path / "store"
    t = ot.Tracker.create(lib, rel.config(DEAD, storage="always", storage_path=os.fspath(store)))
    t.send_n(range(5))
    t.destroy()

    def reopen():
        t = ot.Tracker.create(lib, rel.config(DEAD, storage="always", storage_path=os.fspath(store)))
        try:
            return [int(ot.url_param(r["hit"], "n")) for r in t.offline_get()], t.stats()["store_resets"]
        finally:
            t.destroy()

    # A build cut short (queue.new), a finished build not yet swapped in
    # (queue.next beside queue), the old generation renamed away with the
    # new one not yet in place (queue.old + queue.next), a drained old one
    # not yet deleted (queue.old beside queue).
    (store / "queue.new" / "keyspaces").mkdir(parents=True)
    (store / "queue.new" / "0.jnl").write_bytes(b"\0" * 100)
    assert reopen() == (list(range(5)), 0)
    assert not (store / "queue.new").exists()

    shutil.copytree(store / "queue", store / "queue.next")
    assert reopen() == (list(range(5)), 0)
    assert not (store / "queue.next").exists()

    os.rename(store / "queue", store / "queue.next")
    (store / "queue.old" / "keyspaces").mkdir(parents=True)
    assert reopen() == (list(range(5)), 0)
    assert not (store / "queue.old").exists() and not (store / "queue.next").exists()

    (store / "queue.old").mkdir()
    assert reopen() == (list(range(5)), 0)
    assert not (store / "queue.old").exists()
