"""Bad input for every C function: NULL pointers, bad enums, bad hits, bad configs."""

import json
from ctypes import byref, c_int32, c_uint64, c_void_p

import pytest

import offtrack as ot

E = "http://127.0.0.1:9/hit"  # never contacted: creation fails before any request


def _create_fails(lib, config):
    rc, handle, err = ot.create_raw(lib, config)
    if rc == ot.OK:
        lib.tracker_destroy(handle)
    return rc, handle, err


# ---------------------------------------------------------------- tracker_create


def test_create_null_config(lib):
    handle = c_void_p()
    assert lib.tracker_create(None, byref(handle)) == ot.ERROR_NULL_ARGUMENT
    assert not handle.value
    assert ot.last_error(lib) != ""


def test_create_null_out(lib):
    assert lib.tracker_create(json.dumps({"endpoint": E}).encode(), None) == ot.ERROR_NULL_ARGUMENT
    assert ot.last_error(lib) != ""


@pytest.mark.parametrize("text", ["", "{", "not json", "[]", "null", "42", '"endpoint"', '{"endpoint": "' + E + '",}'])
def test_create_malformed_json(lib, text):
    rc, handle, err = _create_fails(lib, text)
    assert rc == ot.ERROR_CONFIG
    assert not handle.value
    assert err != ""


CONFIG_ERRORS = [
    # (config, key the message must name)
    ({}, "endpoint"),
    ({"storage": "never"}, "endpoint"),
    ({"endpoint": 42}, "endpoint"),
    ({"endpoint": "ftp://127.0.0.1/x"}, "endpoint"),
    ({"endpoint": "127.0.0.1:9/hit"}, "endpoint"),
    ({"endpoint": "not a url"}, "endpoint"),
    ({"endpoint": E + "#frag"}, "endpoint"),
    ({"endpoint": E, "bogus_key": 1}, "bogus_key"),
    ({"endpoint": E, "Storage": "never"}, "Storage"),
    ({"endpoint": E, "storage": "sometimes"}, "storage"),
    ({"endpoint": E, "storage": 1}, "storage"),
    ({"endpoint": E, "storage": "required"}, "storage_path"),
    ({"endpoint": E, "storage": "always"}, "storage_path"),
    ({"endpoint": E, "storage_path": 7}, "storage_path"),
    ({"endpoint": E, "timestamp_param": 5}, "timestamp_param"),
    ({"endpoint": E, "timestamp_offline_only": "yes"}, "timestamp_offline_only"),
    ({"endpoint": E, "id_param": False}, "id_param"),
    ({"endpoint": E, "headers": ["X-A"]}, "headers"),
    ({"endpoint": E, "headers": {"X-A": 1}}, "headers"),
    ({"endpoint": E, "max_attempts": "3"}, "max_attempts"),
    ({"endpoint": E, "max_attempts": -1}, "max_attempts"),
    ({"endpoint": E, "max_attempts": 1.5}, "max_attempts"),
    ({"endpoint": E, "max_hit_bytes": "big"}, "max_hit_bytes"),
    ({"endpoint": E, "max_queue_hits": "many"}, "max_queue_hits"),
    ({"endpoint": E, "max_queue_bytes": -1}, "max_queue_bytes"),
    ({"endpoint": E, "max_memory_hits": [1]}, "max_memory_hits"),
    ({"endpoint": E, "max_age_seconds": "forever"}, "max_age_seconds"),
    ({"endpoint": E, "request_timeout_seconds": 0}, "request_timeout_seconds"),
    ({"endpoint": E, "request_timeout_seconds": "10"}, "request_timeout_seconds"),
    ({"endpoint": E, "shutdown_timeout_ms": "fast"}, "shutdown_timeout_ms"),
    ({"endpoint": E, "retry_base_ms": -5}, "retry_base_ms"),
    ({"endpoint": E, "retry_max_ms": True}, "retry_max_ms"),
    ({"endpoint": E, "send_interval_ms": "0"}, "send_interval_ms"),
    ({"endpoint": E, "encryption_key": "00ff"}, "encryption_key"),
    ({"endpoint": E, "encryption_key": "z" * 64}, "encryption_key"),
    ({"endpoint": E, "encryption_key": 7}, "encryption_key"),
    ({"endpoint": E, "batch_endpoint": 5}, "batch_endpoint"),
    ({"endpoint": E, "batch_endpoint": None}, "batch_endpoint"),
    ({"endpoint": E, "batch_endpoint": ["http://127.0.0.1:9/batch"]}, "batch_endpoint"),
    ({"endpoint": E, "batch_endpoint": "http://127.0.0.1:10/batch"}, "batch_endpoint"),
    ({"endpoint": E, "batch_format": 1}, "batch_format"),
    ({"endpoint": E, "batch_format": None}, "batch_format"),
    ({"endpoint": E, "batch_format": "xml"}, "batch_format"),
    ({"endpoint": E, "batch_max_hits": "5"}, "batch_max_hits"),
    ({"endpoint": E, "batch_max_hits": 1.5}, "batch_max_hits"),
    ({"endpoint": E, "batch_max_hits": True}, "batch_max_hits"),
    ({"endpoint": E, "batch_max_hits": -1}, "batch_max_hits"),
    ({"endpoint": E, "batch_max_bytes": "big"}, "batch_max_bytes"),
    ({"endpoint": E, "batch_max_bytes": 2**64}, "batch_max_bytes"),
    ({"endpoint": E, "batch_max_bytes": 1024.5}, "batch_max_bytes"),
]


@pytest.mark.parametrize("config,key", CONFIG_ERRORS, ids=[f"{k}-{i}" for i, (_, k) in enumerate(CONFIG_ERRORS)])
def test_create_config_error_names_the_key(lib, config, key):
    rc, handle, err = _create_fails(lib, config)
    assert rc == ot.ERROR_CONFIG, err
    assert not handle.value
    assert key in err


def test_create_header_value_with_crlf_is_refused(lib):
    rc, _, err = _create_fails(lib, {"endpoint": E, "headers": {"X-A": "a\r\nInjected: 1"}})
    assert rc == ot.ERROR_CONFIG
    assert err != ""


def test_create_config_with_invalid_utf8(lib):
    rc, _, err = _create_fails(lib, b'{"endpoint": "http://127.0.0.1:9/\xff\xfe"}')
    assert rc in (ot.ERROR_INVALID_ARGUMENT, ot.ERROR_CONFIG)
    assert err != ""


def test_create_storage_path_that_is_a_file(lib, tmp_path):
    f = tmp_path / "a-file"
    f.write_text("not a directory")
    rc, _, err = _create_fails(lib, {"endpoint": E, "storage": "required", "storage_path": str(f)})
    assert rc == ot.ERROR_STORAGE
    assert err != ""


# ---------------------------------------------------------------- NULL tracker / NULL out


@pytest.fixture
def t(make_tracker, storage_dir):
    return make_tracker(storage="required", storage_path=storage_dir)


NULL_CALLS = {
    "set_storage": lambda lib, h: lib.tracker_set_storage(None, 0),
    "get_storage/tracker": lambda lib, h: lib.tracker_get_storage(None, byref(c_int32())),
    "get_storage/out": lambda lib, h: lib.tracker_get_storage(h, None),
    "send/tracker": lambda lib, h: lib.tracker_send(None, b"n=1"),
    "send/hit": lambda lib, h: lib.tracker_send(h, None),
    "dispatch": lambda lib, h: lib.tracker_dispatch(None),
    "flush": lambda lib, h: lib.tracker_flush(None, 100),
    "set_online": lambda lib, h: lib.tracker_set_online(None, True),
    "set_opt_out": lambda lib, h: lib.tracker_set_opt_out(None, True),
    "offline_count/tracker": lambda lib, h: lib.tracker_offline_count(None, byref(c_uint64())),
    "offline_count/out": lambda lib, h: lib.tracker_offline_count(h, None),
    "offline_get/tracker": lambda lib, h: lib.tracker_offline_get(None, 10, byref(c_void_p())),
    "offline_get/out": lambda lib, h: lib.tracker_offline_get(h, 10, None),
    "offline_oldest/tracker": lambda lib, h: lib.tracker_offline_oldest(None, byref(c_void_p())),
    "offline_oldest/out": lambda lib, h: lib.tracker_offline_oldest(h, None),
    "offline_latest/tracker": lambda lib, h: lib.tracker_offline_latest(None, byref(c_void_p())),
    "offline_latest/out": lambda lib, h: lib.tracker_offline_latest(h, None),
    "offline_delete/tracker": lambda lib, h: lib.tracker_offline_delete(None, byref(c_uint64())),
    "offline_delete_older_than/tracker": lambda lib, h: lib.tracker_offline_delete_older_than(None, 0, byref(c_uint64())),
    "stats/tracker": lambda lib, h: lib.tracker_stats(None, byref(c_void_p())),
    "stats/out": lambda lib, h: lib.tracker_stats(h, None),
    "set_event_callback/tracker": lambda lib, h: lib.tracker_set_event_callback(None, None, None),
    "set_transport/tracker": lambda lib, h: lib.tracker_set_transport(None, None, None),
    "set_transport/tracker+callback": lambda lib, h: lib.tracker_set_transport(
        None, ot.TRANSPORT_CALLBACK(lambda r, u: None), None),
    "transport_complete/tracker": lambda lib, h: lib.tracker_transport_complete(None, 1, 200, None, None),
}


@pytest.mark.parametrize("name", list(NULL_CALLS))
def test_null_argument(lib, t, collector, name):
    assert NULL_CALLS[name](lib, t.handle) == ot.ERROR_NULL_ARGUMENT
    assert ot.last_error(lib) != ""
    # The tracker is unaffected.
    assert t.get_storage() == ot.STORAGE_REQUIRED
    assert t.offline_count() == 0
    assert collector.count == 0


def test_offline_delete_accepts_null_out(lib, t):
    t.set_storage(ot.STORAGE_ALWAYS)
    t.send_n([1, 2])
    assert lib.tracker_offline_delete(t.handle, None) == ot.OK
    assert t.offline_count() == 0


def test_set_event_callback_null_callback_is_ok(lib, t):
    assert lib.tracker_set_event_callback(t.handle, None, None) == ot.OK


def test_set_transport_null_callback_is_ok(lib, t, collector):
    # NULL: the built-in client, also when no transport was ever set.
    assert lib.tracker_set_transport(t.handle, None, None) == ot.OK
    t.send_n([1])
    assert t.flush() == ot.OK
    assert collector.ns() == [1]


@pytest.mark.parametrize("request_id", [0, 1, 7, 2**63, 2**64 - 1])
def test_transport_complete_without_any_request(lib, t, collector, request_id):
    for status in (200, 0, 503):
        assert lib.tracker_transport_complete(t.handle, request_id, status, None, None) == ot.ERROR_INVALID_ARGUMENT
        assert ot.last_error(lib) != ""
    assert t.events == [] and collector.count == 0


# ---------------------------------------------------------------- bad enum


@pytest.mark.parametrize("mode", [-1, 3, 7, 2**31 - 1, -(2**31)])
def test_set_storage_out_of_range(lib, t, mode):
    assert t.set_storage(mode) == ot.ERROR_INVALID_ARGUMENT
    assert ot.last_error(lib) != ""
    assert t.get_storage() == ot.STORAGE_REQUIRED


# ---------------------------------------------------------------- bad hits


def _bad_hits(collector):
    other_port = collector.port + 1 if collector.port < 65535 else collector.port - 1
    return {
        "empty": b"",
        "cr": b"n=1&a=b\rc",
        "lf": b"n=1&a=b\nc",
        "crlf-tail": b"n=1\r\n",
        "invalid-utf8": b"n=1&a=\xff\xfe",
        "truncated-utf8": b"n=1&a=\xc3",
        "oversized": b"n=1&a=" + b"x" * 9000,
        "fragment": b"n=1#frag",
        "has-timestamp": b"n=1&ts=1732280000",
        "timestamp-first": b"ts=1&n=1",
        "other-port": f"http://127.0.0.1:{other_port}/hit?n=1".encode(),
        "other-scheme": f"https://127.0.0.1:{collector.port}/hit?n=1".encode(),
        "other-host": f"http://localhost:{collector.port}/hit?n=1".encode(),
        "foreign-host": b"http://example.invalid/hit?n=1",
    }


BAD_HIT_NAMES = ["empty", "cr", "lf", "crlf-tail", "invalid-utf8", "truncated-utf8", "oversized", "fragment",
                 "has-timestamp", "timestamp-first", "other-port", "other-scheme", "other-host", "foreign-host"]


@pytest.mark.parametrize("mode", ["never", "required"])
@pytest.mark.parametrize("name", BAD_HIT_NAMES)
def test_bad_hit_is_refused(lib, make_tracker, collector, storage_dir, name, mode):
    t = make_tracker(storage=mode, storage_path=storage_dir)
    hit = _bad_hits(collector)[name]
    assert t.send(hit) == ot.ERROR_INVALID_ARGUMENT
    assert ot.last_error(lib) != ""
    assert t.flush() == ot.OK
    # A refused hit is not accepted: no id, no event, nothing stored, nothing sent.
    assert t.events == []
    assert t.offline_count() == 0
    assert collector.quiet_for(0.1) == [] and collector.count == 0


def test_hit_carrying_the_id_param_is_refused(lib, make_tracker, collector):
    t = make_tracker(id_param="hid")
    assert t.send("n=1&hid=5") == ot.ERROR_INVALID_ARGUMENT
    assert ot.last_error(lib) != ""
    assert t.flush() == ot.OK
    assert t.events == [] and collector.count == 0


def test_timestamp_check_matches_the_whole_parameter_name(make_tracker, collector):
    t = make_tracker()
    t.send_ok("n=1&parts=3&its=4&ts_x=5&a=ts")
    assert t.flush() == ot.OK
    [req] = collector.requests
    assert req.params("parts") == ["3"]
    assert req.params("its") == ["4"]
    assert req.params("ts_x") == ["5"]
    assert req.params("a") == ["ts"]
    assert len(req.params("ts")) == 1
