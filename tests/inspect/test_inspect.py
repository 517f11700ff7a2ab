"""offtrack-inspect on stores made through the library: what it prints,
what it refuses, and that every store is byte for byte the same afterwards
(`insp.run` checks that on every call)."""

import os
import shutil
import subprocess
import sys

import pytest

import insp
import offtrack as ot
import rel

KEY = "0f" * 32
OTHER_KEY = "a1" * 32


def closed_store(make_tracker, storage_dir, hits=(), **config):
    """A store holding `hits` (sent in `always` mode), its tracker destroyed."""
    config.setdefault("storage", "always")
    t = make_tracker(storage_path=storage_dir, **config)
    t.send_ok(*hits)
    t.flush_ok()
    queued = t.offline_get()
    t.destroy()
    return queued


def hits_of(obj):
    return [(h["id"], h["created"], h["attempts"], h["hit"]) for h in obj["hits"]]


def stored(hit):
    """A hit as stored: without the timestamp parameter (`ts`, the default)
    that `tracker_offline_get` shows as it will be sent."""
    base, _, ts = hit.rpartition("&ts=")
    assert base and ts.isdigit(), hit
    return base


def expected_hits(queued):
    return [(h["id"], h["created"], h["attempts"], stored(h["hit"])) for h in queued]


# ---------------------------------------------------------------- not a store


def test_missing_directory_and_not_a_store(tmp_path):
    r = insp.run(tmp_path / "nowhere")
    assert r.rc == insp.NOT_A_STORE, r
    assert "not a store" in r.err
    assert not (tmp_path / "nowhere").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    r = insp.run(empty)
    assert r.rc == insp.NOT_A_STORE and "holds no Offtrack store" in r.err, r
    assert os.listdir(empty) == []
    (tmp_path / "file").write_text("x")
    assert insp.run(tmp_path / "file").rc == insp.NOT_A_STORE


def test_usage_errors(tmp_path):
    for args in (["--limit", "x"], ["--bogus"], ["--key", KEY]):
        r = insp.run(tmp_path, *args)
        assert r.rc == insp.USAGE, (args, r)
    r = insp.run(tmp_path, "--key=" + KEY)
    assert "process list" in r.err and KEY not in r.out, r


# ---------------------------------------------------------------- plain stores


def test_empty_store(make_tracker, storage_dir):
    closed_store(make_tracker, storage_dir)
    r, obj = insp.run_json(storage_dir)
    assert r.rc == insp.OK, r
    assert obj["format_version"] == 2 and obj["encrypted"] is False
    assert obj["consent"] is None and obj["opt_out"] is False
    assert obj["lock"] == "free" and obj["lock_pid"] is None
    assert (obj["count"], obj["bytes"], obj["from_intake"]) == (0, 0, 0)
    assert obj["oldest"] is None and obj["latest"] is None and obj["hits"] == []
    assert "error" not in obj
    text = insp.run(storage_dir)
    assert text.rc == insp.OK, text
    assert "queue           0 hits, 0 bytes" in text.out
    assert "format version  2" in text.out


def test_queued_hits_with_attempts_after_a_failing_collector(make_tracker, collector, storage_dir):
    """`required` mode, a collector answering 500: the head has attempts
    counted; the tool lists exactly what the library's own API shows."""
    collector.set_status(500)
    t = make_tracker(storage="required", storage_path=storage_dir, max_attempts=50)
    t.send_ok("n=1&page=home", "n=2&page=shop", "n=3&page=é x")
    ot.wait_until(lambda: t.offline_get()[0]["attempts"] >= 2, timeout=10, message="two failed attempts")
    t.set_online(False)  # no more attempts from here on
    t.flush_ok()
    queued = t.offline_get()
    oldest, latest = t.offline_oldest(), t.offline_latest()
    t.destroy()
    assert queued[0]["attempts"] >= 2

    r, obj = insp.run_json(storage_dir)
    assert r.rc == insp.OK, r
    assert hits_of(obj) == expected_hits(queued)
    assert obj["count"] == 3 and obj["listed"] == 3
    assert obj["bytes"] == sum(len(stored(h["hit"]).encode()) for h in queued)
    assert (obj["oldest"]["id"], obj["oldest"]["created"]) == (oldest["id"], oldest["created"])
    assert (obj["latest"]["id"], obj["latest"]["created"]) == (latest["id"], latest["created"])
    assert obj["hits"][0]["created_iso"].endswith("Z")
    assert "%20x" in obj["hits"][2]["hit"]  # as the library stores it: percent-encoded

    text = insp.run(storage_dir)
    assert text.rc == insp.OK, text
    for h in queued:
        assert f"{h['attempts']:>8}  {stored(h['hit'])}" in text.out
    assert "queue           3 hits" in text.out


def test_limit_and_full(make_tracker, storage_dir):
    long_hit = "n=9&long=" + "x" * 300
    queued = closed_store(make_tracker, storage_dir, [f"n={k}" for k in range(5)] + [long_hit])
    r, obj = insp.run_json(storage_dir, "--limit", "2")
    assert r.rc == insp.OK, r
    assert obj["count"] == 6 and obj["listed"] == 2
    assert hits_of(obj) == expected_hits(queued[:2])
    assert insp.run_json(storage_dir, "--limit", "all")[1]["listed"] == 6
    assert insp.run_json(storage_dir, "--limit", "0")[1]["hits"] == []

    text = insp.run(storage_dir, "--limit", "2")
    assert "4 more" in text.out, text
    cut = insp.run(storage_dir, extra_env={"COLUMNS": "100"})
    assert stored(queued[-1]["hit"]) not in cut.out and "xxx…" in cut.out, cut
    full = insp.run(storage_dir, "--full")
    assert stored(queued[-1]["hit"]) in full.out, full


# ---------------------------------------------------------------- refusals


def test_locked_by_a_live_tracker(make_tracker, storage_dir):
    closed_store(make_tracker, storage_dir, ["n=1"])
    # Opened again and left idle: a new tracker does no work until asked.
    t = make_tracker(storage="always", storage_path=storage_dir)
    r, obj = insp.run_json(storage_dir)
    assert r.rc == insp.LOCKED, r
    assert f"locked by a running tracker (pid {os.getpid()})" in r.err
    assert obj["lock"] == "held" and obj["lock_pid"] == os.getpid()
    assert obj["error"]["kind"] == "locked" and obj["error"]["exit_code"] == insp.LOCKED
    assert "hits" not in obj  # nothing of the queue was read
    text = insp.run(storage_dir)
    assert text.rc == insp.LOCKED and "held by a running tracker" in text.out, text
    # The tracker was not disturbed, and the store reads once it is closed.
    assert t.offline_count() == 1
    t.destroy()
    assert insp.run_json(storage_dir)[1]["count"] == 1


def test_newer_format_is_refused(make_tracker, storage_dir):
    closed_store(make_tracker, storage_dir, ["n=1"])
    (storage_dir / "FORMAT").write_text("9\n")
    r, obj = insp.run_json(storage_dir)
    assert r.rc == insp.NEWER_FORMAT, r
    assert "format version 9" in r.err and obj["format_version"] == 9
    (storage_dir / "FORMAT").write_text("two\n")
    r = insp.run(storage_dir)
    assert r.rc == insp.DAMAGED and "unreadable format version" in r.err, r


def garble_tables(storage_dir):
    """Overwrites the middle of every table file of the queue database."""
    garbled = []
    for path in rel.walk_files(storage_dir / "queue"):
        if os.sep + "tables" + os.sep in path and os.path.getsize(path) > 64:
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                f.seek(size // 4)
                f.write(b"\xa5" * (size // 2))
            garbled.append(path)
    return garbled


def test_damaged_store_is_reported_and_not_moved(make_tracker, storage_dir, tmp_path):
    closed_store(make_tracker, storage_dir, [f"n={k}&pad={'p' * 200}" for k in range(200)])
    assert garble_tables(storage_dir), os.listdir(storage_dir / "queue")
    r, obj = insp.run_json(storage_dir)
    assert r.rc == insp.DAMAGED, r
    assert obj["error"]["kind"] == "damaged" and "damaged" in r.err
    assert not [n for n in os.listdir(storage_dir) if n.startswith("damaged-")]
    # The library itself would have moved it aside: the damage is real.
    copy = tmp_path / "copy"
    shutil.copytree(storage_dir, copy)
    t = make_tracker(storage="always", storage_path=copy)
    assert t.stats()["store_resets"] == 1
    t.destroy()
    shown, obj = insp.run_json(copy)
    assert shown.rc == insp.OK and obj["damaged_kept"] and obj["count"] == 0, shown


def test_truncated_table_is_damage(make_tracker, storage_dir):
    closed_store(make_tracker, storage_dir, [f"n={k}" for k in range(50)])
    tables = [p for p in rel.walk_files(storage_dir / "queue") if os.sep + "tables" + os.sep in p]
    assert tables
    for path in tables:
        os.truncate(path, os.path.getsize(path) // 2)
    r = insp.run(storage_dir)
    assert r.rc == insp.DAMAGED, r


# ---------------------------------------------------------------- encryption


def test_encrypted_store_needs_its_key(make_tracker, storage_dir, tmp_path):
    queued = closed_store(make_tracker, storage_dir, ["n=1&user=SECRETMARKER", "n=2"], encryption_key=KEY)
    assert rel.files_containing(storage_dir, "SECRETMARKER") == []
    r, obj = insp.run_json(storage_dir)
    assert r.rc == insp.KEY_NEEDED, r
    assert obj["encrypted"] is True and obj["format_version"] == 3
    assert "--key-file" in r.err and "SECRETMARKER" not in r.out + r.err

    other = tmp_path / "other.key"
    other.write_text(OTHER_KEY + "\n")
    r = insp.run(storage_dir, "--key-file", other)
    assert r.rc == insp.WRONG_KEY and "another key" in r.err, r
    assert OTHER_KEY not in r.out + r.err

    right = tmp_path / "right.key"
    right.write_text(KEY + "\n")
    r, obj = insp.run_json(storage_dir, "--key-file", right)
    assert r.rc == insp.OK, r
    assert hits_of(obj) == expected_hits(queued) and "SECRETMARKER" in obj["hits"][0]["hit"]
    r, obj = insp.run_json(storage_dir, extra_env={"OFFTRACK_ENCRYPTION_KEY": KEY})
    assert r.rc == insp.OK and obj["count"] == 2, r

    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    assert insp.run(storage_dir, "--key-file", bad).rc == insp.USAGE
    assert insp.run(storage_dir, "--key-file", tmp_path / "missing.key").rc == insp.USAGE
    assert rel.files_containing(storage_dir, "SECRETMARKER") == []


def test_a_key_for_a_plain_store_is_not_used(make_tracker, storage_dir, tmp_path):
    closed_store(make_tracker, storage_dir, ["n=1"])
    key = tmp_path / "k"
    key.write_text(KEY)
    r, obj = insp.run_json(storage_dir, "--key-file", key)
    assert r.rc == insp.OK and obj["encrypted"] is False and obj["count"] == 1, r


# ---------------------------------------------------------------- consent


def test_consent_states(make_tracker, tmp_path):
    shown = {}
    for name, consent in (("unset", None), ("granted", ot.CONSENT_GRANTED), ("pending", ot.CONSENT_PENDING),
                          ("denied", ot.CONSENT_DENIED)):
        path = tmp_path / name
        t = make_tracker(storage="required", storage_path=path)
        if consent is not None:
            assert t.set_consent(consent) == ot.OK
        if consent == ot.CONSENT_PENDING:
            t.send_ok("n=1", "n=2")  # kept, nothing sent
        t.flush_ok()
        t.destroy()
        r, obj = insp.run_json(path)
        assert r.rc == insp.OK, r
        shown[name] = (obj["consent"], obj["opt_out"], obj["count"])
    assert shown == {
        "unset": (None, False, 0),
        "granted": ("granted", False, 0),
        "pending": ("pending", False, 2),
        "denied": ("denied", True, 0),
    }
    text = insp.run(tmp_path / "denied")
    assert "consent         denied" in text.out and "opt-out         yes" in text.out, text


def test_opt_out(make_tracker, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_ok("n=1")
    assert t.set_opt_out(True) == ot.OK
    t.flush_ok()
    t.destroy()
    r, obj = insp.run_json(storage_dir)
    assert (obj["consent"], obj["opt_out"], obj["count"]) == ("denied", True, 0), r
    # Only the marker older libraries read: still denied.
    os.remove(storage_dir / "CONSENT")
    r, obj = insp.run_json(storage_dir)
    assert (obj["consent"], obj["opt_out"]) == ("denied", True), r


# ---------------------------------------------------------------- kill -9


def test_store_left_by_kill_9(collector, storage_dir):
    """A child streaming hits in `required` mode to a collector that is
    down is killed mid-stream: the tool reads what recovery finds (every
    acknowledged hit), on its copy; the original stays as the kill left it."""
    collector.down()
    rc, lines, err = rel.run_until_killed("kill_child.py", [collector.endpoint, storage_dir, 1], kill_after=1.0)
    acked = [int(line) for line in lines if line.isdigit()]
    assert rc == -9 and len(acked) >= 20, (rc, len(acked), err[-2000:])
    first, obj = insp.run_json(storage_dir, "--limit", "all")
    assert first.rc == insp.OK, first
    listed = [int(h["hit"].split("k=")[1].split("&")[0]) for h in obj["hits"]]
    assert set(acked) <= set(listed), sorted(set(acked) - set(listed))[:10]
    assert obj["count"] == len(listed) and listed == sorted(listed)
    assert obj["lock"] == "free"
    rel.figure("inspect_kill9", acked=len(acked), listed=len(listed), from_intake=obj["from_intake"])
    # The copy recovered, the original did not: a second look finds the same.
    again, obj2 = insp.run_json(storage_dir, "--limit", "all")
    assert again.rc == insp.OK and obj2 == obj, again


def test_encrypted_store_left_by_kill_9(collector, storage_dir, tmp_path):
    """The same with an encrypted store: sealed records in the intake and
    the journal, opened on the copy with the key; nothing in plain text
    reaches the original."""
    collector.down()
    marker = "KILLMARKER"
    rc, lines, err = rel.run_until_killed(
        "sealed_child.py", [collector.endpoint, storage_dir, KEY, marker, 1], kill_after=1.0)
    acked = [int(line) for line in lines if line.isdigit()]
    assert rc == -9 and len(acked) >= 20, (rc, len(acked), err[-2000:])
    assert insp.run(storage_dir).rc == insp.KEY_NEEDED
    r, obj = insp.run_json(storage_dir, "--limit", "all", extra_env={"OFFTRACK_ENCRYPTION_KEY": KEY})
    assert r.rc == insp.OK, r
    listed = [int(h["hit"].split("k=")[1].split("&")[0]) for h in obj["hits"]]
    assert set(acked) <= set(listed) and obj["count"] == len(listed)
    assert all(marker in h["hit"] for h in obj["hits"])
    assert rel.files_containing(storage_dir, marker) == []


CHILD_HOLDING_THE_LOCK = """
import json, os, sys, time
import offtrack as ot
lib = ot.load()
rc, handle, err = ot.create_raw(lib, json.dumps(
    {"endpoint": sys.argv[1], "storage": "always", "storage_path": sys.argv[2]}))
assert rc == ot.OK, err
os.write(1, b"ready\\n")
time.sleep(60)
"""


def test_locked_by_a_tracker_in_another_process(make_tracker, storage_dir):
    closed_store(make_tracker, storage_dir, ["n=1", "n=2"])
    child = subprocess.Popen([sys.executable, "-c", CHILD_HOLDING_THE_LOCK, "http://127.0.0.1:9/", str(storage_dir)],
                             stdout=subprocess.PIPE, env=rel.child_env())
    try:
        assert child.stdout.readline() == b"ready\n"
        r, obj = insp.run_json(storage_dir)
        assert r.rc == insp.LOCKED, r
        assert (obj["lock"], obj["lock_pid"]) == ("held", child.pid)
        assert f"pid {child.pid}" in r.err
    finally:
        child.kill()
        child.wait(10)
    # Killed while open: the lock goes with the process.
    r, obj = insp.run_json(storage_dir)
    assert r.rc == insp.OK and obj["lock"] == "free" and obj["count"] == 2, r


def test_garbled_journal_is_read_or_reported_never_changed(collector, storage_dir):
    """A journal cut or garbled after a kill: fjall recovers a journal by
    cutting it at the first bad entry, so the tool either lists what is
    left or reports damage; the original is never changed either way."""
    collector.down()
    rc, lines, _ = rel.run_until_killed("kill_child.py", [collector.endpoint, storage_dir, 1], kill_after=0.5)
    assert rc == -9 and lines
    journals = [p for p in rel.walk_files(storage_dir / "queue") if p.endswith(".jnl") and os.path.getsize(p)]
    if not journals:
        pytest.skip("the kill left no journal data (everything in tables)")
    for path in journals:
        data = bytearray(open(path, "rb").read())
        end = len(data.rstrip(b"\0"))  # fjall preallocates: garble written bytes
        for at in range(end // 3, end, max(1, end // 50)):
            data[at] ^= 0x5A
        open(path, "wb").write(bytes(data))
    r = insp.run(storage_dir, "--json")
    assert r.rc in (insp.OK, insp.DAMAGED), r
    rel.figure("inspect_garbled_journal", rc=r.rc, acked=len(lines), listed=r.json.get("count"))
    assert not [n for n in os.listdir(storage_dir) if n.startswith("damaged-")]
