"""Bad input matrix: every exported function x NULL for each pointer, invalid
enums, invalid UTF-8, CR/LF/NUL, empty and oversized hits, malformed configs.
Exact codes, and a tracker_last_error that names the culprit."""

import ctypes
import json
import os
import re
import threading
from ctypes import byref, c_int32, c_uint64, c_void_p

import pytest

import rel
import offtrack as ot

HEADER = os.path.join(rel.REPO_ROOT, "include", "offtrack.h")
DEAD = "http://127.0.0.1:9/hit"


def header_functions():
    text = open(HEADER).read()
    return sorted(set(re.findall(r"^\s*(?:const\s+)?[\w\s\*]+?\b(tracker_\w+)\(", text, re.M)))


@pytest.fixture
def t(lib, collector, tmp_path):
    tr = ot.Tracker.create(lib, rel.config(collector.endpoint, storage="always", storage_path=os.fspath(tmp_path / "s")))
    yield tr
    tr.destroy()


def err(lib):
    return ot.last_error(lib)


def expect(lib, rc, code, *words):
    assert rc == code, f"expected {ot.RESULT_NAMES[code]}, got {ot.RESULT_NAMES.get(rc, rc)}: {err(lib)!r}"
    if code != ot.OK:
        message = err(lib)
        for w in words:
            assert w.lower() in message.lower(), f"{w!r} not in last error {message!r}"


# ------------------------------------------------------------------ NULL matrix

_NOOP_TRANSPORT = ot.TRANSPORT_CALLBACK(lambda request, user_data: None)  # referenced for the whole run

# (function, call with a live tracker `h` and `lib`, expected code, words in the message)
NULL_CASES = [
    ("tracker_create", lambda lib, h: lib.tracker_create(None, byref(c_void_p())), ot.ERROR_NULL_ARGUMENT, ["config_json"]),
    ("tracker_create", lambda lib, h: lib.tracker_create(json.dumps({"endpoint": DEAD}).encode(), None),
     ot.ERROR_NULL_ARGUMENT, ["out"]),
    ("tracker_set_storage", lambda lib, h: lib.tracker_set_storage(None, 1), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_get_storage", lambda lib, h: lib.tracker_get_storage(None, byref(c_int32())), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_get_storage", lambda lib, h: lib.tracker_get_storage(h, None), ot.ERROR_NULL_ARGUMENT, ["out_mode"]),
    ("tracker_send", lambda lib, h: lib.tracker_send(None, b"a=1"), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_send", lambda lib, h: lib.tracker_send(h, None), ot.ERROR_NULL_ARGUMENT, ["hit"]),
    ("tracker_dispatch", lambda lib, h: lib.tracker_dispatch(None), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_flush", lambda lib, h: lib.tracker_flush(None, 10), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_set_online", lambda lib, h: lib.tracker_set_online(None, True), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_set_opt_out", lambda lib, h: lib.tracker_set_opt_out(None, True), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_set_consent", lambda lib, h: lib.tracker_set_consent(None, ot.CONSENT_GRANTED), ot.ERROR_NULL_ARGUMENT,
     ["tracker"]),
    ("tracker_get_consent", lambda lib, h: lib.tracker_get_consent(None, byref(c_int32())), ot.ERROR_NULL_ARGUMENT,
     ["tracker"]),
    ("tracker_get_consent", lambda lib, h: lib.tracker_get_consent(h, None), ot.ERROR_NULL_ARGUMENT, ["out_consent"]),
    ("tracker_offline_count", lambda lib, h: lib.tracker_offline_count(None, byref(c_uint64())), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_offline_count", lambda lib, h: lib.tracker_offline_count(h, None), ot.ERROR_NULL_ARGUMENT, ["out_count"]),
    ("tracker_offline_get", lambda lib, h: lib.tracker_offline_get(None, 5, byref(c_void_p())), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_offline_get", lambda lib, h: lib.tracker_offline_get(h, 5, None), ot.ERROR_NULL_ARGUMENT, ["out_json"]),
    ("tracker_offline_oldest", lambda lib, h: lib.tracker_offline_oldest(None, byref(c_void_p())), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_offline_oldest", lambda lib, h: lib.tracker_offline_oldest(h, None), ot.ERROR_NULL_ARGUMENT, ["out_json"]),
    ("tracker_offline_latest", lambda lib, h: lib.tracker_offline_latest(None, byref(c_void_p())), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_offline_latest", lambda lib, h: lib.tracker_offline_latest(h, None), ot.ERROR_NULL_ARGUMENT, ["out_json"]),
    ("tracker_offline_delete", lambda lib, h: lib.tracker_offline_delete(None, byref(c_uint64())), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_offline_delete", lambda lib, h: lib.tracker_offline_delete(h, None), ot.OK, []),  # documented: may be NULL
    ("tracker_offline_delete_older_than", lambda lib, h: lib.tracker_offline_delete_older_than(None, 1, byref(c_uint64())),
     ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_offline_delete_older_than", lambda lib, h: lib.tracker_offline_delete_older_than(h, 1, None), ot.OK, []),
    ("tracker_stats", lambda lib, h: lib.tracker_stats(None, byref(c_void_p())), ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_stats", lambda lib, h: lib.tracker_stats(h, None), ot.ERROR_NULL_ARGUMENT, ["out_json"]),
    ("tracker_set_event_callback", lambda lib, h: lib.tracker_set_event_callback(None, None, None),
     ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_set_event_callback", lambda lib, h: lib.tracker_set_event_callback(h, None, None), ot.OK, []),  # removes
    ("tracker_set_transport", lambda lib, h: lib.tracker_set_transport(None, None, None), ot.ERROR_NULL_ARGUMENT,
     ["tracker"]),
    ("tracker_set_transport", lambda lib, h: lib.tracker_set_transport(None, _NOOP_TRANSPORT, None),
     ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    ("tracker_set_transport", lambda lib, h: lib.tracker_set_transport(h, None, None), ot.OK, []),  # built-in client
    ("tracker_transport_complete", lambda lib, h: lib.tracker_transport_complete(None, 1, 200, None, None),
     ot.ERROR_NULL_ARGUMENT, ["tracker"]),
    # retry_after and error may be NULL: what is left is an id this tracker never gave out.
    ("tracker_transport_complete", lambda lib, h: lib.tracker_transport_complete(h, 1, 200, None, None),
     ot.ERROR_INVALID_ARGUMENT, []),
]

# Functions without a pointer that can be NULL-checked with a result code.
NO_RESULT = {"tracker_version", "tracker_result_name", "tracker_last_error", "tracker_destroy", "tracker_string_free"}


def test_matrix_covers_every_exported_function():
    exported = header_functions()
    assert exported == sorted(ot.FUNCTION_NAMES), "binding and header differ"
    covered = {c[0] for c in NULL_CASES} | NO_RESULT
    assert set(exported) == covered, f"not in the NULL matrix: {set(exported) - covered}"


@pytest.mark.parametrize("case", NULL_CASES, ids=[f"{c[0]}#{i}" for i, c in enumerate(NULL_CASES)])
def test_null_pointers(lib, t, case):
    name, call, code, words = case
    rc = call(lib, t.handle)
    expect(lib, rc, code, *words)
    if code != ot.OK:
        assert err(lib).startswith(name), f"last error should name the function: {err(lib)!r}"


def test_null_is_a_noop_where_documented(lib):
    lib.tracker_destroy(None)
    lib.tracker_string_free(None)


def test_create_failure_leaves_out_null(lib):
    out = c_void_p(0xDEADBEEF)
    assert lib.tracker_create(b'{"endpoint": 5}', byref(out)) == ot.ERROR_CONFIG
    assert not out.value
    out = c_void_p(0xDEADBEEF)
    assert lib.tracker_create(None, byref(out)) == ot.ERROR_NULL_ARGUMENT
    assert not out.value


def test_static_strings(lib):
    assert re.fullmatch(rb"\d+\.\d+\.\d+.*", lib.tracker_version())
    for code, name in ot.RESULT_NAMES.items():
        assert lib.tracker_result_name(code).decode() == name
    for code in (-1, 9, 100, 2**31 - 1, -2**31):
        assert lib.tracker_result_name(code) == b"TRACKER_UNKNOWN_RESULT"
    assert lib.tracker_last_error() is not None


def test_last_error_is_per_thread_and_kept_by_successes(lib, t):
    assert lib.tracker_send(t.handle, b"") == ot.ERROR_INVALID_ARGUMENT
    mine = err(lib)
    assert "empty" in mine
    seen = {}

    def other():
        seen["before"] = err(lib)
        lib.tracker_set_storage(None, 1)
        seen["after"] = err(lib)

    th = threading.Thread(target=other)
    th.start()
    th.join()
    assert seen["before"] == ""
    assert "tracker" in seen["after"]
    assert err(lib) == mine, "another thread's failure changed this thread's last error"
    assert lib.tracker_send(t.handle, b"a=1") == ot.OK
    assert err(lib) == mine, "a successful call cleared the last error"


# ------------------------------------------------------------------ enums


@pytest.mark.parametrize("mode", [-1, 3, 4, 100, 2**31 - 1, -2**31])
def test_invalid_storage_mode(lib, t, mode):
    assert t.get_storage() == ot.STORAGE_ALWAYS
    expect(lib, t.set_storage(mode), ot.ERROR_INVALID_ARGUMENT, "storage mode", str(mode))
    assert t.get_storage() == ot.STORAGE_ALWAYS


@pytest.mark.parametrize("consent", [-1, 3, 4, 2**31 - 1, -2**31])
def test_invalid_consent(lib, t, consent):
    assert t.set_consent(ot.CONSENT_PENDING) == ot.OK
    expect(lib, t.set_consent(consent), ot.ERROR_INVALID_ARGUMENT, "tracker_set_consent", "consent", str(consent))
    assert t.get_consent() == ot.CONSENT_PENDING


def test_mode_without_storage_path(lib, make_tracker):
    tr = make_tracker()
    for mode in (ot.STORAGE_REQUIRED, ot.STORAGE_ALWAYS):
        expect(lib, tr.set_storage(mode), ot.ERROR_CONFIG, "storage_path")
        assert tr.get_storage() == ot.STORAGE_NEVER


# ------------------------------------------------------------------ hits

BAD_HITS = [
    (b"", "empty"),
    (b"?", "no parameters"),
    (b"&&", "no parameters"),
    (b"a=1\rb=2", "CR"),
    (b"a=1\nb=2", "LF"),
    (b"a=1\r\nX-Injected: 1", "CR"),
    (b"\n", "LF"),
    (b"a=\xff\xfe", "UTF-8"),
    (b"a=\xc3", "UTF-8"),          # truncated sequence
    (b"a=\xc0\xaf", "UTF-8"),      # overlong
    (b"a=\xed\xa0\x80", "UTF-8"),  # surrogate
    (b"a=\xf4\x90\x80\x80", "UTF-8"),  # above U+10FFFF
    (b"a=1#frag", "fragment"),
    (b"a=1&ts=5", "ts"),
    (b"ts=5", "ts"),
    (b"http://example.com/hit?a=1", "origin"),
    (b"https://127.0.0.1:9/hit?a=1", "origin"),
    (b"http://127.0.0.1:10/hit?a=1", "origin"),
    (b"http://user@127.0.0.1:9/hit?a=1", "origin"),
]


@pytest.mark.parametrize("hit,word", BAD_HITS, ids=[repr(h) for h, _ in BAD_HITS])
@pytest.mark.parametrize("mode", ["never", "always"])
def test_bad_hits(lib, tmp_path, hit, word, mode):
    cfg = rel.config(DEAD, storage=mode, storage_path=os.fspath(tmp_path / "s"))
    tr = ot.Tracker.create(lib, cfg)
    try:
        expect(lib, lib.tracker_send(tr.handle, hit), ot.ERROR_INVALID_ARGUMENT, "tracker_send", word)
        assert tr.offline_count() == 0
        assert tr.flush(2000) == ot.OK
        assert tr.events == [], "a refused hit must not produce events"
    finally:
        tr.destroy()


def test_nul_ends_a_c_string(lib, collector, make_tracker):
    """From C a hit ends at its first NUL: the rest can never reach the collector."""
    tr = make_tracker()
    buf = ctypes.create_string_buffer(b"a=1\x00b=2&secret=x")
    assert lib.tracker_send(tr.handle, buf) == ot.OK
    req = collector.wait_for(1)[0]
    assert req.param("a") == "1" and req.param("b") is None and "secret" not in req.path


@pytest.mark.parametrize("id_param", ["", "hid"])
def test_hit_size_limit_is_exact(lib, collector, tmp_path, id_param):
    limit = 200
    cfg = rel.config(collector.endpoint, storage="always", storage_path=os.fspath(tmp_path / "s"),
                     max_hit_bytes=limit, id_param=id_param)
    tr = ot.Tracker.create(lib, cfg)
    try:
        widest = len(collector.endpoint) + 1 + len("&ts=") + 10 + (len(f"&{id_param}=") + 20 if id_param else 0)
        fits = "a=" + "x" * (limit - widest - 2)
        assert tr.send(fits) == ot.OK, err(lib)
        expect(lib, tr.send(fits + "x"), ot.ERROR_INVALID_ARGUMENT, "max_hit_bytes", str(limit))
        assert tr.offline_count() == 1
        assert tr.dispatch() == ot.OK and tr.flush() == ot.OK
        assert len(collector.wait_for(1)[0].path) + len(collector.url) <= limit
    finally:
        tr.destroy()


def test_huge_hit_is_refused_with_a_short_message(lib, make_tracker):
    tr = make_tracker()
    marker = "MARK" + "z" * (4 << 20)
    for hit in (f"a={marker}", f"a={marker}#f", f"http://evil.example/{marker}"):
        expect(lib, tr.send(hit), ot.ERROR_INVALID_ARGUMENT)
        assert len(err(lib)) < 512, len(err(lib))


# ------------------------------------------------------------------ configs

BAD_CONFIGS = [
    (b"", None), (b"{", None), (b"[]", None), (b"null", None), (b"\"x\"", None), (b"{}", "endpoint"),
    (b"[" * 100000, None), (b"{\"endpoint\": \"" + DEAD.encode() + b"\"", None),
    (b"{\"endpoint\": \"" + DEAD.encode() + b"\"}  trailing", None),
    (b"\xef\xbb\xbf{\"endpoint\": \"" + DEAD.encode() + b"\"}", None),  # BOM
    (b"{\"endpoint\": 1e999}", None),
    (b"{\"endpoint\": \"http://h/\", \"endpoint\": 5}", "endpoint"),
]


@pytest.mark.parametrize("text,key", BAD_CONFIGS, ids=[repr(t[:30]) for t, _ in BAD_CONFIGS])
def test_malformed_configs(lib, text, key):
    out = c_void_p(0x1234)
    rc = lib.tracker_create(text, byref(out))
    if rc == ot.OK:
        lib.tracker_destroy(out)
    expect(lib, rc, ot.ERROR_CONFIG, "tracker_create", *(["config"] if key is None else [key]))
    assert not out.value


def test_config_with_invalid_utf8(lib):
    out = c_void_p()
    rc = lib.tracker_create(b'{"endpoint": "http://h/\xff"}', byref(out))
    expect(lib, rc, ot.ERROR_INVALID_ARGUMENT, "config_json", "UTF-8")


def test_config_cut_by_nul(lib):
    out = c_void_p()
    buf = ctypes.create_string_buffer(b'{"endpoint": "http://h/"\x00, "bogus": 1}')
    expect(lib, lib.tracker_create(buf, byref(out)), ot.ERROR_CONFIG)


E = DEAD
KEY_ERRORS = [
    ({"endpoint": E, "unknown_key": 1}, "unknown_key"),
    ({"endpoint": E, "ENDPOINT": E}, "ENDPOINT"),
    ({"endpoint": ["http://h/"]}, "endpoint"),
    ({"endpoint": None}, "endpoint"),
    ({"endpoint": ""}, "endpoint"),
    ({"endpoint": "http://"}, "endpoint"),
    ({"endpoint": "http://:80/"}, "endpoint"),
    ({"endpoint": "http://h:99999/"}, "endpoint"),
    ({"endpoint": "http://u:p@h/"}, "endpoint"),
    ({"endpoint": "http://h/ x"}, "endpoint"),
    ({"endpoint": "http://h/\r\nX: y"}, "endpoint"),
    ({"endpoint": "http://hé/"}, "endpoint"),
    ({"endpoint": "file:///etc/passwd"}, "endpoint"),
    ({"endpoint": "javascript:alert(1)"}, "endpoint"),
    ({"endpoint": E, "storage_path": ""}, "storage_path"),
    ({"endpoint": E, "storage_path": None}, "storage_path"),
    ({"endpoint": E, "storage": "REQUIRED"}, "storage"),
    ({"endpoint": E, "storage": None}, "storage"),
    ({"endpoint": E, "consent": "maybe"}, "consent"),
    ({"endpoint": E, "consent": "GRANTED"}, "consent"),
    ({"endpoint": E, "consent": 1}, "consent"),
    ({"endpoint": E, "consent": None}, "consent"),
    ({"endpoint": E, "timestamp_param": "t s"}, "timestamp_param"),
    ({"endpoint": E, "timestamp_param": "a&b"}, "timestamp_param"),
    ({"endpoint": E, "timestamp_param": "x" * 65}, "timestamp_param"),
    ({"endpoint": E, "id_param": "ts"}, "id_param"),
    ({"endpoint": E, "id_param": "a=b"}, "id_param"),
    ({"endpoint": E, "timestamp_offline_only": 1}, "timestamp_offline_only"),
    ({"endpoint": E, "headers": "X: y"}, "headers"),
    ({"endpoint": E, "headers": {"X A": "y"}}, "headers"),
    ({"endpoint": E, "headers": {"": "y"}}, "headers"),
    ({"endpoint": E, "headers": {"X:": "y"}}, "headers"),
    ({"endpoint": E, "headers": {"X": "a\r\nInjected: 1"}}, "headers"),
    ({"endpoint": E, "headers": {"X": "a\nb"}}, "headers"),
    ({"endpoint": E, "headers": {"X": None}}, "headers"),
    ({"endpoint": E, "max_attempts": 0}, "max_attempts"),
    ({"endpoint": E, "max_attempts": 1001}, "max_attempts"),
    ({"endpoint": E, "max_attempts": 2.0}, "max_attempts"),
    ({"endpoint": E, "max_attempts": True}, "max_attempts"),
    ({"endpoint": E, "max_hit_bytes": 63}, "max_hit_bytes"),
    ({"endpoint": E, "max_hit_bytes": (1 << 20) + 1}, "max_hit_bytes"),
    ({"endpoint": E, "max_queue_hits": 0}, "max_queue_hits"),
    ({"endpoint": E, "max_queue_bytes": 0}, "max_queue_bytes"),
    ({"endpoint": E, "max_queue_bytes": 2**64}, "max_queue_bytes"),
    ({"endpoint": E, "max_memory_hits": 0}, "max_memory_hits"),
    ({"endpoint": E, "max_age_seconds": -1}, "max_age_seconds"),
    ({"endpoint": E, "request_timeout_seconds": 3601}, "request_timeout_seconds"),
    ({"endpoint": E, "request_timeout_seconds": 0.5}, "request_timeout_seconds"),
    ({"endpoint": E, "shutdown_timeout_ms": -1}, "shutdown_timeout_ms"),
    ({"endpoint": E, "retry_base_ms": 0}, "retry_base_ms"),
    ({"endpoint": E, "retry_base_ms": 100, "retry_max_ms": 50}, "retry_max_ms"),
    ({"endpoint": E, "send_interval_ms": -1}, "send_interval_ms"),
    ({"endpoint": E, "send_interval_ms": 3_600_001}, "send_interval_ms"),
    ({"endpoint": E, "encryption_key": "0" * 63}, "encryption_key"),
    ({"endpoint": E, "encryption_key": None}, "encryption_key"),
    ({"endpoint": E, "batch_endpoint": "http://127.0.0.1:10/batch"}, "batch_endpoint"),
    ({"endpoint": E, "batch_endpoint": "https://127.0.0.1:9/batch"}, "batch_endpoint"),
    ({"endpoint": E, "batch_endpoint": "http://localhost:9/batch"}, "batch_endpoint"),
    ({"endpoint": E, "batch_endpoint": "http://u:p@127.0.0.1:9/batch"}, "batch_endpoint"),
    ({"endpoint": E, "batch_endpoint": "http://127.0.0.1:9/b\r\nX: y"}, "batch_endpoint"),
    ({"endpoint": E, "batch_endpoint": "http://127.0.0.1:9/batch#f"}, "batch_endpoint"),
    ({"endpoint": E, "batch_endpoint": "127.0.0.1:9/batch"}, "batch_endpoint"),
    ({"endpoint": E, "batch_endpoint": "file:///tmp/batch"}, "batch_endpoint"),
    ({"endpoint": E, "batch_format": "LINES"}, "batch_format"),
    ({"endpoint": E, "batch_format": " json"}, "batch_format"),
    ({"endpoint": E, "batch_format": ""}, "batch_format"),
    ({"endpoint": E, "batch_max_hits": 0}, "batch_max_hits"),
    ({"endpoint": E, "batch_max_hits": 10001}, "batch_max_hits"),
    ({"endpoint": E, "batch_max_hits": 2.0}, "batch_max_hits"),
    ({"endpoint": E, "batch_max_hits": None}, "batch_max_hits"),
    ({"endpoint": E, "batch_max_bytes": 1023}, "batch_max_bytes"),
    ({"endpoint": E, "batch_max_bytes": 16777217}, "batch_max_bytes"),
    ({"endpoint": E, "batch_max_bytes": -1}, "batch_max_bytes"),
    ({"endpoint": E, "batch_max_bytes": "524288"}, "batch_max_bytes"),
]


@pytest.mark.parametrize("cfg,key", KEY_ERRORS, ids=[k + "#" + str(i) for i, (_, k) in enumerate(KEY_ERRORS)])
def test_config_key_errors_name_the_key(lib, tmp_path, cfg, key):
    rc, handle, message = ot.create_raw(lib, cfg)
    if rc == ot.OK:
        lib.tracker_destroy(handle)
    assert rc == ot.ERROR_CONFIG, f"{cfg}: got {ot.RESULT_NAMES.get(rc, rc)}"
    assert key in message, f"message does not name {key!r}: {message!r}"
    assert message.startswith("tracker_create")


def test_huge_unknown_key_message_is_truncated(lib):
    key = "k" * 100000
    rc, _, message = ot.create_raw(lib, {"endpoint": E, key: 1})
    assert rc == ot.ERROR_CONFIG and len(message) < 512


# ------------------------------------------------------------------ during destroy


def test_calls_from_a_callback_during_destroy_return_closed(lib, collector):
    """While tracker_destroy runs, the worker still emits the events it owes;
    a callback that calls back into the tracker gets TRACKER_ERROR_CLOSED."""
    collector.set_hang()
    rc, handle, e = ot.create_raw(lib, rel.config(collector.endpoint, shutdown_timeout_ms=3000))
    assert rc == ot.OK, e
    codes = []

    @ot.EVENT_CALLBACK
    def cb(ev, _):
        codes.append((ev.contents.kind, lib.tracker_send(handle, b"late=1"), lib.tracker_dispatch(handle)))

    assert lib.tracker_set_event_callback(handle, cb, None) == ot.OK
    for i in range(5):
        assert lib.tracker_send(handle, f"n={i}".encode()) == ot.OK
    collector.wait_for(1)
    threading.Timer(0.3, collector.release).start()
    lib.tracker_destroy(handle)
    assert codes, "no event during destroy"
    assert all(s == ot.ERROR_CLOSED and d == ot.ERROR_CLOSED for _, s, d in codes), codes
    assert collector.quiet_for(0.3) == [] or all(r.param("late") is None for r in collector.requests)


# ------------------------------------------------------------------ host transport boundary


def _pending_request(lib, make_tracker, tmp_path):
    tr = ot.HostTransport(lib)
    t = make_tracker(storage="required", storage_path=tmp_path / "s", request_timeout_seconds=10,
                     retry_base_ms=5000, retry_max_ms=5000)
    assert t.set_transport(tr) == ot.OK
    assert t.send("n=1") == ot.OK
    [r] = tr.wait_requests(1)
    return t, tr, r


@pytest.mark.parametrize("field", ["retry_after", "error"])
@pytest.mark.parametrize("text", [b"\xff\xfe", b"\xc3", b"a" * (1 << 20), b"", b"\r\n\x01"],
                         ids=["invalid-utf8", "truncated-utf8", "1MiB", "empty", "control"])
def test_completion_texts_never_crash(lib, make_tracker, tmp_path, field, text):
    """retry_after and error are the host's text: whatever it holds, the call returns a result code
    (OK, or INVALID_ARGUMENT leaving the request pending) and the tracker goes on."""
    t, tr, r = _pending_request(lib, make_tracker, tmp_path)
    status = 503 if field == "retry_after" else 0
    args = (text, None) if field == "retry_after" else (None, text)
    rc = lib.tracker_transport_complete(t.handle, r.request_id, status, *args)
    assert rc in (ot.OK, ot.ERROR_INVALID_ARGUMENT), ot.RESULT_NAMES.get(rc, rc)
    if rc == ot.ERROR_INVALID_ARGUMENT:
        assert t.events == [] and len(err(lib)) < 512
        assert tr.complete(r, status) == ot.OK
    assert t.flush() == ot.OK
    [stored] = t.events
    assert (stored.kind, stored.http_status) == (ot.EVENT_STORED, status)
    assert t.offline_get()[0]["attempts"] == (1 if status == 503 else 0)


def test_racing_completions_of_one_request(lib, make_tracker, tmp_path):
    """Eight threads complete the same request at once: exactly one wins, the hit is settled once."""
    t, tr, r = _pending_request(lib, make_tracker, tmp_path)
    barrier = threading.Barrier(8)
    rcs = []

    def racer(status):
        barrier.wait()
        rcs.append(lib.tracker_transport_complete(t.handle, r.request_id, status, None, None))

    threads = [threading.Thread(target=racer, args=(200 if i % 2 else 404,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(rcs) == [ot.OK] + [ot.ERROR_INVALID_ARGUMENT] * 7
    assert t.flush() == ot.OK
    [final] = t.events
    assert final.kind in (ot.EVENT_SENT, ot.EVENT_DROPPED)
    assert t.offline_count() == 0


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_transport_callback_that_raises_is_contained(lib, make_tracker, tmp_path):
    """A Python exception inside the callback cannot cross into native code (ctypes prints and
    returns): the request is never completed, so it times out as unreachable and is kept."""
    calls = []

    def broken(request, user_data):
        calls.append(request.contents.request_id)
        raise RuntimeError("host bug")

    cb = ot.TRANSPORT_CALLBACK(broken)
    t = make_tracker(storage="required", storage_path=tmp_path / "s", request_timeout_seconds=1,
                     retry_base_ms=5000, retry_max_ms=5000)
    t.raw_transport_callback = cb  # referenced for the tracker's life
    assert lib.tracker_set_transport(t.handle, cb, None) == ot.OK
    assert t.send("n=1") == ot.OK
    t.recorder.wait_for(lambda evs: evs, timeout=4, message="STORED after the timeout")
    [stored] = t.events
    assert (stored.kind, stored.http_status) == (ot.EVENT_STORED, 0)
    assert len(calls) == 1
    assert t.offline_get()[0]["attempts"] == 0
