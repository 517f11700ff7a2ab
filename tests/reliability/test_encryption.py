"""Encryption at rest (DESIGN.md §10, `encryption_key`): a marker sent in
hits never appears in any file of the storage directory (intake files,
journal, tables), also after a kill -9 and after enough hits that fjall
writes tables; the right key delivers everything in order with the
original timestamps; another key or none is refused with every file left
as it was; a plain store holding hits is refused with a key; bad key values
are refused without being echoed."""

import hashlib
import os
import time
import uuid

import pytest

import rel
import offtrack as ot
import sealed_child

KEY = "3f" * 16 + "a1" * 16
OTHER_KEY = "c4" * 32


def _marker():
    return "SECRET" + uuid.uuid4().hex


def _tree(root):
    """{relative path: sha256 and mode} of every file and directory under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root) + "/"] = ("dir", os.lstat(p).st_mode)
        for name in filenames:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = (hashlib.sha256(f.read()).hexdigest(), os.lstat(p).st_mode)
    return out


def _tables(root):
    return [p for p in rel.walk_files(root) if os.sep + "tables" + os.sep in p and os.path.getsize(p) > 0]


def _create_fails(lib, cfg):
    rc, handle, err = ot.create_raw(lib, cfg)
    assert not handle.value
    return rc, err


def _delivered(collector):
    """(k, ts) of every request that carried a k, in arrival order."""
    return [(int(h.param("k")), int(h.param("ts")))
            for r in collector.requests for h in r.hits if h.param("k") is not None]


def _assert_in_order_once(ks, expected):
    first, seen = [], set()
    for k in ks:
        if k not in seen:
            seen.add(k)
            first.append(k)
    assert first == sorted(first), "hits arrived out of order"
    assert set(expected) <= set(first), f"missing: {sorted(set(expected) - set(first))[:20]}"


def test_no_hit_text_in_any_file_and_reopen_delivers_in_order(lib, collector, storage_dir):
    marker = _marker()
    collector.down()
    cfg = rel.config(collector.endpoint, storage="required", storage_path=storage_dir, encryption_key=KEY)
    t = ot.Tracker.create(lib, cfg)
    sent_at = {}
    try:
        # 3,000 hits of about 1 KB: the queue's memtable (1 MiB) is written
        # out as tables several times over.
        for k in range(3000):
            sent_at[k] = time.time()
            t.send_ok(f"k={k}&who={marker}&pad={'p' * 900}")
        assert t.flush() == ot.OK
        assert rel.files_containing(storage_dir, marker) == []
        assert rel.files_containing(storage_dir, "pad=ppp") == []
        stats = t.stats()
        assert stats["encrypted"] is True and stats["queued"] == 3000
        assert KEY not in str(stats)
        # The offline API shows the hits as they were sent.
        assert marker in t.offline_oldest()["hit"] and marker in t.offline_latest()["hit"]
        assert [ot.url_param(h["hit"], "k") for h in t.offline_get(3)] == ["0", "1", "2"]
    finally:
        t.destroy()
    assert _tables(storage_dir), "no table was written: the test did not reach fjall's tables"
    assert rel.files_containing(storage_dir, marker) == []

    time.sleep(2.1)  # so a timestamp taken at delivery would differ from the original
    collector.up()
    t = ot.Tracker.create(lib, cfg)
    try:
        assert t.dispatch() == ot.OK
        ot.wait_until(lambda: t.offline_count() == 0, timeout=120, interval=0.05,
                      message="the encrypted queue to drain")
        assert t.flush() == ot.OK
    finally:
        t.destroy()
    delivered = _delivered(collector)
    _assert_in_order_once([k for k, _ in delivered], range(3000))
    for k, ts in delivered:
        assert int(sent_at[k]) - 1 <= ts <= int(sent_at[k]) + 1, (k, ts, sent_at[k])


def test_a_plain_store_shows_the_marker(lib, collector, storage_dir):
    """The control: without a key the text is on disk, so the checks above mean something."""
    marker = _marker()
    collector.down()
    t = ot.Tracker.create(lib, rel.config(collector.endpoint, storage="always", storage_path=storage_dir))
    try:
        t.send_ok(f"k=1&who={marker}")
        assert t.flush() == ot.OK
        assert rel.files_containing(storage_dir, marker) != []
        assert t.stats()["encrypted"] is False
    finally:
        t.destroy()


@pytest.mark.timeout(240)
def test_kill9_mid_stream_leaves_no_text_and_loses_nothing(lib, collector, storage_dir):
    rel.run_seeded(_kill9_mid_stream, lib, collector, storage_dir)


def _kill9_mid_stream(lib, collector, storage_dir, rng):
    marker = _marker()
    acked_all = []
    started = time.time()
    collector.down()
    try:
        for run in range(4):
            rc, lines, err = rel.run_until_killed(
                "sealed_child.py", [collector.endpoint, storage_dir, KEY, marker, run * 1_000_000],
                kill_after=rng.uniform(0.2, 1.5))
            assert rc == -9, f"run {run}: the child ended by itself (rc={rc}):\n{err[-3000:]}"
            assert "create failed" not in err and "send " not in err, err[-3000:]
            acked_all += [int(x) for x in lines if x.isdigit()]
            # As the kill left it: intake files mid-write, journal not synced.
            assert rel.files_containing(storage_dir, marker) == [], f"run {run}"
    finally:
        collector.up()
    assert len(acked_all) > 500, len(acked_all)
    killed_at = time.time()

    time.sleep(1.1)
    # Batches keep the drain of ~100,000 hits to seconds; each line carries its own ts.
    cfg = rel.config(collector.endpoint, storage="required", storage_path=storage_dir, encryption_key=KEY,
                     batch_endpoint=collector.url + "/batch", **sealed_child.LIMITS)
    t = ot.Tracker.create(lib, cfg)
    try:
        assert rel.files_containing(storage_dir, marker) == []
        assert t.dispatch() == ot.OK
        ot.wait_until(lambda: t.offline_count() == 0, timeout=180, interval=0.05,
                      message="the encrypted queue to drain after the kills")
        assert t.flush() == ot.OK
        stats = t.stats()
    finally:
        t.destroy()
    assert stats["store_resets"] == 0 and stats["dropped"] == 0, stats
    delivered = _delivered(collector)
    _assert_in_order_once([k for k, _ in delivered], acked_all)
    assert all(int(started) - 1 <= ts <= int(killed_at) + 1 for _, ts in delivered)
    assert rel.files_containing(storage_dir, marker) == []
    rel.figure("encryption_kill9", runs=4, acknowledged=len(acked_all),
               delivered=len({k for k, _ in delivered}), tables=len(_tables(storage_dir)))


def _filled(lib, collector, storage_dir, n=50, key=KEY):
    cfg = rel.config(collector.endpoint, storage="always", storage_path=storage_dir,
                     **({"encryption_key": key} if key else {}))
    t = ot.Tracker.create(lib, cfg)
    try:
        for k in range(n):
            t.send_ok(f"k={k}&pad={'q' * 300}")
        assert t.flush() == ot.OK
    finally:
        t.destroy()
    return cfg


def _killed_mid_stream(lib, collector, storage_dir):
    collector.down()
    try:
        rc, lines, err = rel.run_until_killed(
            "sealed_child.py", [collector.endpoint, storage_dir, KEY, _marker(), 0], kill_after=0.5)
    finally:
        collector.up()
    assert rc == -9, err[-3000:]
    return rel.config(collector.endpoint, storage="always", storage_path=storage_dir, encryption_key=KEY)


@pytest.mark.parametrize("left", ["destroyed", "killed"])
def test_another_key_or_none_is_refused_and_every_file_is_untouched(lib, collector, storage_dir, left):
    cfg = (_filled if left == "destroyed" else _killed_mid_stream)(lib, collector, storage_dir)
    before = _tree(storage_dir)
    for key, says in [(OTHER_KEY, "encrypted with another key"), ("", "encryption_key is required"),
                      (None, "encryption_key is required")]:
        attempt = dict(cfg)
        if key is None:
            del attempt["encryption_key"]
        else:
            attempt["encryption_key"] = key
        rc, err = _create_fails(lib, attempt)
        assert rc == ot.ERROR_STORAGE, err
        assert says in err and os.fspath(storage_dir) in err, err
        assert KEY not in err and OTHER_KEY not in err and KEY[:8] not in err
        assert _tree(storage_dir) == before, f"{says}: files changed"
    assert not [n for n in os.listdir(storage_dir) if n.startswith("damaged")]
    # The right key still opens it, with every hit.
    t = ot.Tracker.create(lib, cfg)
    try:
        assert t.offline_count() > 0
        assert t.stats()["store_resets"] == 0
    finally:
        t.destroy()


def test_a_plain_store_holding_hits_is_refused_with_a_key(lib, collector, storage_dir):
    plain = _filled(lib, collector, storage_dir, n=20, key=None)
    before = _tree(storage_dir)
    rc, err = _create_fails(lib, dict(plain, encryption_key=KEY))
    assert rc == ot.ERROR_STORAGE and "holds unencrypted hits" in err, err
    assert KEY not in err
    # fjall reads the queue to tell, and its open drops its own superseded
    # version files (queue/keyspaces/N/vM); nothing else changes.
    after = _tree(storage_dir)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    assert all(os.path.basename(p)[:1] == "v" and "keyspaces" in p for p in changed), changed
    assert not os.path.exists(storage_dir / "KEYCHECK")
    t = ot.Tracker.create(lib, plain)
    try:
        assert t.offline_count() == 20
        assert t.offline_delete() == 20
    finally:
        t.destroy()
    # Emptied, it may start encrypting.
    t = ot.Tracker.create(lib, dict(plain, encryption_key=KEY))
    try:
        assert t.stats()["encrypted"] is True
    finally:
        t.destroy()


def test_the_key_changes_once_the_queue_is_drained(lib, collector, storage_dir):
    cfg = _filled(lib, collector, storage_dir, n=10)
    assert os.path.exists(storage_dir / "KEYCHECK")
    t = ot.Tracker.create(lib, cfg)
    try:
        assert t.dispatch() == ot.OK
        ot.wait_until(lambda: t.offline_count() == 0, timeout=30, message="drain")
        assert t.flush() == ot.OK
    finally:
        t.destroy()
    assert not os.path.exists(storage_dir / "KEYCHECK")
    t = ot.Tracker.create(lib, dict(cfg, encryption_key=OTHER_KEY))
    try:
        t.send_ok("k=99")
        assert t.flush() == ot.OK
        assert t.stats()["encrypted"] is True
    finally:
        t.destroy()
    rc, err = _create_fails(lib, cfg)
    assert rc == ot.ERROR_STORAGE and "another key" in err


BAD_KEYS = [
    "abc",
    "0" * 63,
    "0" * 65,
    "g" * 64,
    "0x" + "1" * 62,
    " " + "a" * 63,
    "a" * 62 + "é",
    "ab" * 32 + "\n",
    12345,
    None,
    True,
    ["a" * 64],
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=[f"bad-{i}" for i in range(len(BAD_KEYS))])
def test_bad_encryption_key_values_are_refused_without_being_echoed(lib, collector, tmp_path, key):
    rc, err = _create_fails(lib, rel.config(collector.endpoint, storage="always",
                                            storage_path=tmp_path / "store", encryption_key=key))
    assert rc == ot.ERROR_CONFIG, err
    assert "encryption_key" in err
    if isinstance(key, str) and len(key) > 8:
        assert key.strip()[:8] not in err, err
    assert not (tmp_path / "store").exists() or not os.path.exists(tmp_path / "store" / "KEYCHECK")


def test_an_empty_key_is_off_and_either_case_is_the_same_key(lib, collector, tmp_path):
    t = ot.Tracker.create(lib, rel.config(collector.endpoint, storage="always",
                                          storage_path=tmp_path / "a", encryption_key=""))
    try:
        assert t.stats()["encrypted"] is False
    finally:
        t.destroy()
    _filled(lib, collector, tmp_path / "b", n=3, key=KEY.lower())
    t = ot.Tracker.create(lib, rel.config(collector.endpoint, storage="always",
                                          storage_path=tmp_path / "b", encryption_key=KEY.upper()))
    try:
        assert t.offline_count() == 3
    finally:
        t.destroy()
