"""Consent (DESIGN.md §10): granted, pending and denied, each transition, the choice
remembered in the storage directory across runs, and a collector that counts every
connection it accepts: while consent is pending or denied none is opened, whatever
asks for one (a send, tracker_dispatch, tracker_set_online(true), the retry timer)."""

import os
import time
from ctypes import byref, c_int32

import pytest

import offtrack as ot

PENDING_REASON = "consent pending: kept until granted"
MEMORY_PENDING_REASON = "consent pending: kept in memory until granted (storage mode never)"
DENIED_REASON = "consent denied"

# Several retry periods of conftest's BASE_CONFIG (retry_base_ms 50, retry_max_ms 200).
QUIET = 0.5


def try_every_trigger(t):
    """Everything that may start a request; none may while consent is not granted."""
    assert t.dispatch() == ot.OK
    assert t.flush(5000) == ot.OK, "a dispatch without consent is complete at once"
    assert t.set_online(False) == ot.OK
    assert t.set_online(True) == ot.OK
    assert t.flush(5000) == ot.OK


def no_connection(collector, seconds=QUIET):
    assert collector.quiet_for(seconds) == []
    assert collector.connections == 0, f"{collector.connections} connections opened"


def consent_stats(t):
    s = t.stats()
    return s["consent"], s["opt_out"]


# ------------------------------------------------------------------ transitions


def test_granted_is_the_default(make_tracker, collector):
    t = make_tracker()
    assert t.get_consent() == ot.CONSENT_GRANTED
    assert consent_stats(t) == ("granted", False)
    t.send_ok("n=1")
    assert t.flush() == ot.OK
    assert collector.wait_for(1)[0].n == 1
    assert collector.connections >= 1, "the collector counts what it accepts"


@pytest.mark.parametrize("storage", ["required", "always"])
def test_granted_pending_granted(make_tracker, collector, storage_dir, storage):
    t = make_tracker(storage=storage, storage_path=storage_dir)
    t.send_n([1])
    if storage == "always":
        assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    collector.wait_for(1)
    connections = collector.connections

    assert t.set_consent(ot.CONSENT_PENDING) == ot.OK
    assert t.get_consent() == ot.CONSENT_PENDING
    assert consent_stats(t) == ("pending", False)
    t.send_n([2, 3])
    assert t.flush() == ot.OK
    try_every_trigger(t)
    assert collector.quiet_for(QUIET) == []
    assert collector.connections == connections, "a connection was opened while pending"
    assert t.offline_ns() == [2, 3]
    stored = [(t.recorder.n_of(e), e.reason) for e in t.recorder.of_kind(ot.EVENT_STORED)]
    assert [s for s in stored if s[0] != 1] == [(2, PENDING_REASON), (3, PENDING_REASON)]

    assert t.set_consent(ot.CONSENT_GRANTED) == ot.OK
    if storage == "always":
        # Always mode keeps its own rule: nothing goes out before a dispatch.
        assert collector.quiet_for(0.2) == []
        assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    collector.wait_for(3)
    assert collector.ns() == [1, 2, 3]
    finals = t.recorder.wait_final([2, 3])
    assert all(e.kind == ot.EVENT_SENT for e in finals.values())
    assert t.offline_count() == 0


def test_pending_then_denied_purges_what_was_kept(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir, consent="pending")
    t.send_n([1, 2, 3])
    assert t.flush() == ot.OK
    assert t.offline_count() == 3
    assert t.set_consent(ot.CONSENT_DENIED) == ot.OK
    assert t.get_consent() == ot.CONSENT_DENIED
    assert consent_stats(t) == ("denied", True)
    assert t.offline_count() == 0
    t.send_n([4])
    try_every_trigger(t)
    finals = t.recorder.wait_final([1, 2, 3, 4])
    assert {n: (e.kind, e.reason) for n, e in finals.items()} == {
        n: (ot.EVENT_DROPPED, DENIED_REASON) for n in (1, 2, 3, 4)}
    # The hit sent while denied never was stored: no STORED event for it.
    assert 4 not in {t.recorder.n_of(e) for e in t.recorder.of_kind(ot.EVENT_STORED)}
    no_connection(collector)


def test_denied_then_granted(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir, consent="denied")
    assert t.get_consent() == ot.CONSENT_DENIED
    t.send_n([1])
    try_every_trigger(t)
    assert t.recorder.wait_final([1])[1].reason == DENIED_REASON
    no_connection(collector)
    assert t.set_consent(ot.CONSENT_GRANTED) == ot.OK
    assert consent_stats(t) == ("granted", False)
    t.send_n([2])
    assert t.flush() == ot.OK
    assert collector.wait_for(1)[0].n == 2
    assert t.recorder.wait_final([2])[2].kind == ot.EVENT_SENT
    assert collector.quiet_for(0.2) == [] and collector.ns() == [2]


def test_opt_out_is_denied_and_opting_in_is_granted(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir, consent="pending")
    t.send_n([1])
    assert t.flush() == ot.OK
    assert t.set_opt_out(True) == ot.OK
    assert t.get_consent() == ot.CONSENT_DENIED
    assert consent_stats(t) == ("denied", True)
    assert t.recorder.wait_final([1])[1].reason == DENIED_REASON
    assert t.set_opt_out(False) == ot.OK
    assert t.get_consent() == ot.CONSENT_GRANTED
    assert consent_stats(t) == ("granted", False)
    # From pending too: opting in releases what was kept.
    assert t.set_consent(ot.CONSENT_PENDING) == ot.OK
    t.send_n([2])
    assert t.dispatch() == ot.OK and t.flush() == ot.OK
    no_connection(collector)
    assert t.set_opt_out(False) == ot.OK
    assert t.dispatch() == ot.OK and t.flush() == ot.OK
    assert collector.wait_for(1)[0].n == 2


# ------------------------------------------------------------------ across runs


def test_the_choice_is_remembered_and_wins_over_the_config(make_tracker, collector, storage_dir):
    cfg = dict(storage="required", storage_path=storage_dir)
    # No choice made yet: the config says what to assume.
    t = make_tracker(consent="pending", **cfg)
    assert t.get_consent() == ot.CONSENT_PENDING
    t.destroy()
    assert not (storage_dir / "CONSENT").exists(), "the config's value is not a choice"
    t = make_tracker(consent="granted", **cfg)
    assert t.get_consent() == ot.CONSENT_GRANTED

    # A choice is remembered and wins over every config value.
    assert t.set_consent(ot.CONSENT_PENDING) == ot.OK
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    t.destroy()
    for value in ("granted", "denied", "pending"):
        t = make_tracker(consent=value, **cfg)
        assert t.get_consent() == ot.CONSENT_PENDING, value
        assert t.offline_ns() == [1, 2], "kept across runs while pending"
        try_every_trigger(t)
        t.destroy()
    no_connection(collector, 0.2)

    t = make_tracker(consent="pending", **cfg)
    assert t.set_consent(ot.CONSENT_GRANTED) == ot.OK
    assert t.flush() == ot.OK
    collector.wait_for(2)
    assert collector.ns() == [1, 2]
    t.destroy()
    t = make_tracker(consent="denied", **cfg)
    assert t.get_consent() == ot.CONSENT_GRANTED


def test_a_denial_is_remembered_across_runs(make_tracker, collector, storage_dir):
    cfg = dict(storage="required", storage_path=storage_dir)
    t = make_tracker(consent="pending", **cfg)
    assert t.set_consent(ot.CONSENT_DENIED) == ot.OK
    t.destroy()
    t = make_tracker(consent="granted", **cfg)
    assert t.get_consent() == ot.CONSENT_DENIED
    assert consent_stats(t) == ("denied", True)
    t.send_n([1])
    try_every_trigger(t)
    assert t.recorder.wait_final([1])[1].reason == DENIED_REASON
    no_connection(collector)


def test_an_opt_out_left_by_an_older_library_reads_as_denied(make_tracker, collector, storage_dir):
    make_tracker(storage="required", storage_path=storage_dir).destroy()
    (storage_dir / "CONSENT").unlink(missing_ok=True)
    (storage_dir / "OPT_OUT").write_text("1\n")
    t = make_tracker(storage="required", storage_path=storage_dir, consent="granted")
    assert t.get_consent() == ot.CONSENT_DENIED
    t.send_n([1])
    try_every_trigger(t)
    assert t.recorder.wait_final([1])[1].reason == DENIED_REASON
    no_connection(collector)
    # Granting replaces the marker, so an older library would send again too.
    assert t.set_consent(ot.CONSENT_GRANTED) == ot.OK
    assert not (storage_dir / "OPT_OUT").exists()
    assert (storage_dir / "CONSENT").read_text().strip() == "granted"


def test_without_storage_path_the_choice_lasts_one_run(make_tracker, collector):
    t = make_tracker(consent="pending")
    assert t.set_consent(ot.CONSENT_DENIED) == ot.OK
    t.destroy()
    t = make_tracker(consent="pending")
    assert t.get_consent() == ot.CONSENT_PENDING
    t.destroy()
    assert make_tracker().get_consent() == ot.CONSENT_GRANTED


def test_the_consent_file_is_owner_only(make_tracker, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir)
    assert t.set_consent(ot.CONSENT_PENDING) == ot.OK
    mode = os.stat(storage_dir / "CONSENT").st_mode
    assert mode & 0o077 == 0, oct(mode)
    assert not (storage_dir / "CONSENT.tmp").exists()


# ------------------------------------------------------------------ order and time


def test_granting_releases_in_order_with_the_time_each_hit_was_made(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir, consent="pending")
    t.send_n([1, 2])
    time.sleep(1.1)  # whole seconds apart: the ts parameter has second resolution
    t.send_n([3])
    time.sleep(1.1)
    t.send_n([4])
    assert t.flush() == ot.OK
    created = {int(ot.url_param(h["hit"], "n")): h["created"] for h in t.offline_get()}
    time.sleep(1.1)
    granted_at = int(time.time())
    assert t.set_consent(ot.CONSENT_GRANTED) == ot.OK
    requests = collector.wait_for(4)
    assert [r.n for r in requests] == [1, 2, 3, 4]
    for r in requests:
        ts = int(r.param("ts"))
        assert ts == created[r.n] // 1000, (r.path, created)
        assert ts < granted_at, "the timestamp is the creation time, not the sending time"
    assert len({int(r.param("ts")) for r in requests}) == 3
    finals = t.recorder.wait_final([1, 2, 3, 4])
    assert all(e.kind == ot.EVENT_SENT for e in finals.values())
    assert [int(ot.url_param(e.hit, "ts")) for e in finals.values()] == [created[n] // 1000 for n in finals]


def test_never_mode_hits_kept_in_memory_go_once_on_grant(make_tracker, collector):
    t = make_tracker(consent="pending")
    t.send_n([1, 2, 3])
    assert t.flush() == ot.OK, "flush does not wait for the player's answer"
    try_every_trigger(t)
    no_connection(collector)
    stored = t.recorder.wait_for(lambda evs: len(evs) == 3, message="3 STORED")
    assert [(e.kind, e.reason) for e in stored] == [(ot.EVENT_STORED, MEMORY_PENDING_REASON)] * 3
    assert t.stats()["memory_queued"] == 3
    assert t.offline_count() == 0, "never mode writes nothing to disk"

    assert t.set_consent(ot.CONSENT_GRANTED) == ot.OK
    assert t.flush() == ot.OK
    collector.wait_for(3)
    assert collector.quiet_for(0.3) == []
    assert collector.ns() == [1, 2, 3], "each once, in order"
    assert all(r.param("ts") for r in collector.requests)
    finals = t.recorder.wait_final([1, 2, 3])
    assert all(e.kind == ot.EVENT_SENT for e in finals.values())
    assert t.stats()["memory_queued"] == 0


def test_never_mode_hits_kept_in_memory_are_lost_at_destroy(make_tracker, collector):
    t = make_tracker(consent="pending")
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    recorder = t.recorder
    t.destroy()
    finals = recorder.final_by_n()
    assert {n: finals[n].kind for n in (1, 2)} == {1: ot.EVENT_DROPPED, 2: ot.EVENT_DROPPED}
    assert all("destroyed" in finals[n].reason for n in (1, 2))
    no_connection(collector, 0.1)


def test_a_host_transport_is_never_called_while_pending(lib, make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir, consent="pending")
    host = ot.HostTransport(lib, ot.HostTransport.threaded())
    assert t.set_transport(host) == ot.OK
    t.send_n([1, 2])
    try_every_trigger(t)
    no_connection(collector)
    assert host.requests == []
    assert t.set_consent(ot.CONSENT_GRANTED) == ot.OK
    t.recorder.wait_final([1, 2])
    assert [r.n for r in host.requests] == [1, 2]
    assert collector.ns() == [1, 2]


# ------------------------------------------------------------------ limits while pending


def test_max_queue_hits_holds_while_pending(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir, consent="pending", max_queue_hits=3)
    t.send_n(range(1, 7))
    assert t.flush() == ot.OK
    ot.wait_until(lambda: t.offline_ns() == [4, 5, 6], message="the oldest evicted")
    finals = t.recorder.wait_final([1, 2, 3])
    assert all(e.kind == ot.EVENT_DROPPED and "queue full" in e.reason for e in finals.values())
    no_connection(collector)
    assert t.set_consent(ot.CONSENT_GRANTED) == ot.OK
    collector.wait_for(3)
    assert collector.ns() == [4, 5, 6]


def test_max_memory_hits_holds_while_pending_in_never_mode(make_tracker, collector):
    t = make_tracker(consent="pending", max_memory_hits=3)
    t.send_n(range(1, 7))
    assert t.flush() == ot.OK
    finals = t.recorder.wait_final([1, 2, 3])
    assert all(e.kind == ot.EVENT_DROPPED and "memory queue full" in e.reason for e in finals.values())
    assert t.stats()["memory_queued"] == 3
    no_connection(collector)
    assert t.set_consent(ot.CONSENT_GRANTED) == ot.OK
    assert t.flush() == ot.OK
    collector.wait_for(3)
    assert collector.quiet_for(0.2) == []
    assert collector.ns() == [4, 5, 6]


# ------------------------------------------------------------------ bad input


def test_null_tracker_and_out_pointer(lib, make_tracker):
    out = c_int32(-1)
    assert lib.tracker_set_consent(None, ot.CONSENT_GRANTED) == ot.ERROR_NULL_ARGUMENT
    assert "tracker_set_consent" in ot.last_error(lib) and "tracker" in ot.last_error(lib)
    assert lib.tracker_get_consent(None, byref(out)) == ot.ERROR_NULL_ARGUMENT
    assert "tracker_get_consent" in ot.last_error(lib)
    assert out.value == -1
    t = make_tracker()
    assert lib.tracker_get_consent(t.handle, None) == ot.ERROR_NULL_ARGUMENT
    assert "out_consent" in ot.last_error(lib)


@pytest.mark.parametrize("value", [-1, 3, 2**31 - 1])
def test_invalid_consent_values_change_nothing(lib, make_tracker, collector, storage_dir, value):
    t = make_tracker(storage="required", storage_path=storage_dir, consent="pending")
    t.send_n([1])
    assert t.set_consent(value) == ot.ERROR_INVALID_ARGUMENT
    message = ot.last_error(lib)
    assert message.startswith("tracker_set_consent") and str(value) in message, message
    assert t.get_consent() == ot.CONSENT_PENDING
    assert not (storage_dir / "CONSENT").exists(), "nothing recorded"
    assert t.flush() == ot.OK
    no_connection(collector)


@pytest.mark.parametrize("value", ["maybe", 1, "", "Granted", None, True])
def test_invalid_config_values(lib, tracker_config, value):
    rc, handle, err = ot.create_raw(lib, tracker_config(consent=value))
    if rc == ot.OK:
        lib.tracker_destroy(handle)
    assert rc == ot.ERROR_CONFIG
    assert "consent" in err and err.startswith("tracker_create"), err


def test_stats_carry_both_keys(make_tracker):
    t = make_tracker()
    for value, name in ot.CONSENT_NAMES.items():
        assert t.set_consent(value) == ot.OK
        stats = t.stats()
        assert (stats["consent"], stats["opt_out"]) == (name, value == ot.CONSENT_DENIED)
