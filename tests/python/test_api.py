"""Static functions, result names, the per-thread last error, and the full config surface."""

import ctypes
import os
import re
import threading

import pytest

import offtrack as ot


def test_binding_covers_every_function_of_the_header():
    header = os.path.join(ot.REPO_ROOT, "include", "offtrack.h")
    with open(header, encoding="utf-8") as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    declared = set(re.findall(r"\b(tracker_[a-z_]+)\s*\(", text))
    assert declared == set(ot.FUNCTION_NAMES)


def test_every_function_of_the_header_is_exported(lib):
    missing = [name for name in ot.FUNCTION_NAMES if not hasattr(lib, name)]
    assert missing == []


def test_version_is_non_empty(lib):
    v = lib.tracker_version()
    assert v is not None and v.decode("utf-8").strip() != ""


@pytest.mark.parametrize("code,name", sorted(ot.RESULT_NAMES.items()))
def test_result_name(lib, code, name):
    assert lib.tracker_result_name(code).decode("utf-8") == name


@pytest.mark.parametrize("code", [-1, 9, 100, 2**31 - 1, -(2**31)])
def test_result_name_of_unknown_code_is_still_a_string(lib, code):
    assert lib.tracker_result_name(code) is not None


def test_last_error_is_empty_on_a_thread_without_failures(lib):
    seen = []
    th = threading.Thread(target=lambda: seen.append(ot.last_error(lib)))
    th.start()
    th.join()
    assert seen == [""]


def test_last_error_is_per_thread(lib):
    rc, _, err = ot.create_raw(lib, "{not json")
    assert rc == ot.ERROR_CONFIG
    assert err != ""

    other = []

    def fail_differently():
        r = lib.tracker_set_storage(None, 0)
        other.append((r, ot.last_error(lib)))

    th = threading.Thread(target=fail_differently)
    th.start()
    th.join()
    assert other[0][0] == ot.ERROR_NULL_ARGUMENT
    assert other[0][1] != ""
    # The other thread's failure did not overwrite this thread's message.
    assert ot.last_error(lib) == err


def test_create_and_destroy(lib, collector):
    rc, handle, err = ot.create_raw(lib, {"endpoint": collector.endpoint})
    assert rc == ot.OK, err
    assert handle.value
    lib.tracker_destroy(handle)


def test_every_documented_config_key_is_accepted(lib, collector, storage_dir):
    cfg = {
        "endpoint": collector.endpoint,
        "storage_path": str(storage_dir),
        "storage": "required",
        "timestamp_param": "t",
        "timestamp_offline_only": True,
        "id_param": "hid",
        "headers": {"X-Game": "demo"},
        "max_attempts": 4,
        "max_hit_bytes": 4096,
        "max_queue_hits": 1000,
        "max_queue_bytes": 1048576,
        "max_memory_hits": 100,
        "max_age_seconds": 0,
        "request_timeout_seconds": 2,
        "shutdown_timeout_ms": 300,
        "retry_base_ms": 100,
        "retry_max_ms": 1000,
        "send_interval_ms": 0,
        "batch_endpoint": collector.url + "/batch",
        "batch_format": "json",
        "batch_max_hits": 50,
        "batch_max_bytes": 65536,
    }
    t = ot.Tracker.create(lib, cfg, record=False)
    try:
        assert t.get_storage() == ot.STORAGE_REQUIRED
    finally:
        t.destroy()


def test_destroy_null_is_a_no_op(lib):
    lib.tracker_destroy(None)


def test_string_free_null_is_a_no_op(lib):
    lib.tracker_string_free(None)


def test_callback_runs_on_the_worker_thread_with_user_data(make_tracker, collector):
    t = make_tracker(record=False)
    calls = []
    errors = []

    def on_event(ev_ptr, user_data):
        try:
            ev = ev_ptr.contents
            calls.append((ev.kind, user_data, threading.get_ident(), ev.hit.decode("utf-8")))
        except BaseException as exc:  # must not propagate into native code
            errors.append(repr(exc))

    cb = ot.EVENT_CALLBACK(on_event)
    assert t.lib.tracker_set_event_callback(t.handle, cb, ctypes.c_void_p(0x5EED)) == ot.OK
    t.send_ok("n=1")
    assert t.flush() == ot.OK
    assert t.lib.tracker_set_event_callback(t.handle, None, None) == ot.OK
    assert errors == []
    assert len(calls) == 1
    kind, user_data, thread_id, hit = calls[0]
    assert kind == ot.EVENT_SENT
    assert user_data == 0x5EED
    assert thread_id != threading.get_ident()
    assert ot.url_param(hit, "n") == "1"
