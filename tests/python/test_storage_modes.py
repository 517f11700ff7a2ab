"""Storage modes never / required / always, and switching between them."""

import pytest

import offtrack as ot


def test_default_mode_is_never(make_tracker):
    assert make_tracker().get_storage() == ot.STORAGE_NEVER


@pytest.mark.parametrize("name,value", [("never", 0), ("required", 1), ("always", 2)])
def test_initial_mode_from_config(make_tracker, storage_dir, name, value):
    assert make_tracker(storage=name, storage_path=storage_dir).get_storage() == value


def test_switch_modes_at_runtime(make_tracker, storage_dir):
    t = make_tracker(storage_path=storage_dir)
    for mode in [1, 2, 0, 2, 1, 1, 0]:
        assert t.set_storage(mode) == ot.OK
        assert t.get_storage() == mode


@pytest.mark.parametrize("mode", [ot.STORAGE_REQUIRED, ot.STORAGE_ALWAYS])
def test_switch_to_storing_mode_without_storage_path(lib, make_tracker, collector, mode):
    t = make_tracker()
    assert t.set_storage(mode) == ot.ERROR_CONFIG
    assert "storage_path" in ot.last_error(lib)
    assert t.get_storage() == ot.STORAGE_NEVER
    assert t.set_storage(ot.STORAGE_NEVER) == ot.OK
    # Still a working never-mode tracker.
    t.send_n([1])
    assert t.flush() == ot.OK
    assert collector.ns() == [1]


def test_never_mode_sends_at_once_in_order(make_tracker, collector):
    t = make_tracker()
    t.send_n(range(1, 6))
    assert t.flush() == ot.OK
    assert collector.ns() == [1, 2, 3, 4, 5]
    finals = t.recorder.final_by_n()
    assert {n: e.kind for n, e in finals.items()} == {n: ot.EVENT_SENT for n in range(1, 6)}
    assert all(e.http_status == 200 and e.reason == "" for e in finals.values())
    assert t.recorder.of_kind(ot.EVENT_STORED) == []


def test_never_mode_never_writes_hits_to_the_store(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="never", storage_path=storage_dir)
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    finals = t.recorder.wait_final([1, 2])
    assert all(e.kind == ot.EVENT_DROPPED and e.http_status == 0 for e in finals.values())
    assert t.offline_count() == 0
    assert t.recorder.of_kind(ot.EVENT_STORED) == []


def test_required_mode_online_sends_without_storing(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir)
    t.send_n([1, 2, 3])
    assert t.flush() == ot.OK
    assert collector.ns() == [1, 2, 3]
    assert t.offline_count() == 0
    assert t.recorder.kinds_by_n() == {1: ["SENT"], 2: ["SENT"], 3: ["SENT"]}


def test_required_mode_stores_when_unreachable_and_sends_later(make_tracker, collector, storage_dir):
    collector.down()
    t = make_tracker(storage="required", storage_path=storage_dir)
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    assert t.offline_ns() == [1, 2]
    stored = t.recorder.of_kind(ot.EVENT_STORED)
    assert [e.n for e in stored] == [1, 2]
    assert all(e.http_status == 0 and e.reason for e in stored)
    collector.up()
    assert t.set_online(True) == ot.OK
    finals = t.recorder.wait_final([1, 2])
    assert all(e.kind == ot.EVENT_SENT for e in finals.values())
    assert collector.ns() == [1, 2]
    assert t.offline_count() == 0


def test_always_mode_sends_nothing_until_dispatch(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n([1, 2, 3])
    assert t.flush() == ot.OK
    assert t.offline_ns() == [1, 2, 3]
    assert [e.n for e in t.recorder.of_kind(ot.EVENT_STORED)] == [1, 2, 3]
    assert collector.quiet_for(0.3) == []
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.ns() == [1, 2, 3]
    assert t.offline_count() == 0
    assert {n: e.kind for n, e in t.recorder.final_by_n().items()} == {1: 0, 2: 0, 3: 0}
    # Quiet again after the dispatch.
    t.send_n([4])
    assert t.flush() == ot.OK
    assert collector.quiet_for(0.3) == []
    assert collector.ns() == [1, 2, 3]
    assert t.offline_ns() == [4]


def test_switch_always_to_required_drains_stored_hits_first(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n([1, 2, 3])
    assert t.flush() == ot.OK
    assert t.set_storage(ot.STORAGE_REQUIRED) == ot.OK
    t.send_n([4])
    collector.wait_for(4)
    assert collector.quiet_for(0.2) == []
    assert collector.ns() == [1, 2, 3, 4]
    t.recorder.wait_final([1, 2, 3, 4])
    assert t.offline_count() == 0


def test_switch_required_to_always_stops_sending(make_tracker, collector, storage_dir):
    t = make_tracker(storage="required", storage_path=storage_dir)
    t.send_n([1])
    assert t.flush() == ot.OK
    assert t.set_storage(ot.STORAGE_ALWAYS) == ot.OK
    t.send_n([2])
    assert t.flush() == ot.OK
    assert collector.quiet_for(0.3) == []
    assert collector.ns() == [1]
    assert t.offline_ns() == [2]
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.ns() == [1, 2]


def test_never_mode_leaves_stored_hits_for_dispatch(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    assert t.set_storage(ot.STORAGE_NEVER) == ot.OK
    t.send_n([3])
    assert t.flush() == ot.OK
    assert collector.quiet_for(0.3) == []
    assert collector.ns() == [3]
    assert t.offline_ns() == [1, 2]
    assert t.dispatch() == ot.OK
    assert t.flush() == ot.OK
    assert collector.ns() == [3, 1, 2]
    assert t.offline_count() == 0


def test_always_mode_ignores_the_online_hint(make_tracker, collector, storage_dir):
    t = make_tracker(storage="always", storage_path=storage_dir)
    t.send_n([1, 2])
    assert t.flush() == ot.OK
    assert t.set_online(False) == ot.OK
    assert t.set_online(True) == ot.OK
    assert collector.quiet_for(0.3) == []
    assert t.offline_ns() == [1, 2]
