"""ctypes binding of the Offtrack C API (DESIGN.md §2) and a small test helper layer."""

import ctypes
import http.client
import json
import os
import threading
import time
import traceback
import urllib.parse
from collections import namedtuple
from ctypes import POINTER, byref, c_bool, c_char_p, c_int32, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Storage modes
STORAGE_NEVER = 0
STORAGE_REQUIRED = 1
STORAGE_ALWAYS = 2

# Consent (DESIGN.md §10)
CONSENT_GRANTED = 0
CONSENT_PENDING = 1
CONSENT_DENIED = 2
CONSENT_NAMES = {CONSENT_GRANTED: "granted", CONSENT_PENDING: "pending", CONSENT_DENIED: "denied"}

# Results
OK = 0
ERROR_NULL_ARGUMENT = 1
ERROR_INVALID_ARGUMENT = 2
ERROR_CONFIG = 3
ERROR_STORAGE = 4
ERROR_LOCKED = 5
ERROR_TIMEOUT = 6
ERROR_CLOSED = 7
ERROR_PANIC = 8

RESULT_NAMES = {
    OK: "TRACKER_OK",
    ERROR_NULL_ARGUMENT: "TRACKER_ERROR_NULL_ARGUMENT",
    ERROR_INVALID_ARGUMENT: "TRACKER_ERROR_INVALID_ARGUMENT",
    ERROR_CONFIG: "TRACKER_ERROR_CONFIG",
    ERROR_STORAGE: "TRACKER_ERROR_STORAGE",
    ERROR_LOCKED: "TRACKER_ERROR_LOCKED",
    ERROR_TIMEOUT: "TRACKER_ERROR_TIMEOUT",
    ERROR_CLOSED: "TRACKER_ERROR_CLOSED",
    ERROR_PANIC: "TRACKER_ERROR_PANIC",
}

# Event kinds
EVENT_SENT = 0
EVENT_STORED = 1
EVENT_DROPPED = 2
KIND_NAMES = {EVENT_SENT: "SENT", EVENT_STORED: "STORED", EVENT_DROPPED: "DROPPED"}
FINAL_KINDS = (EVENT_SENT, EVENT_DROPPED)


class TrackerEventStruct(ctypes.Structure):
    _fields_ = [
        ("kind", c_int32),
        ("id", c_uint64),
        ("hit", c_char_p),
        ("http_status", c_int32),
        ("reason", c_char_p),
    ]


EVENT_CALLBACK = ctypes.CFUNCTYPE(None, POINTER(TrackerEventStruct), c_void_p)


class _CallbackArg:
    """Argument type for tracker_event_callback that also accepts None (a NULL callback)."""

    @classmethod
    def from_param(cls, obj):
        if obj is None:
            return EVENT_CALLBACK()  # NULL function pointer
        return EVENT_CALLBACK.from_param(obj)


class TrackerRequestStruct(ctypes.Structure):
    _fields_ = [
        ("request_id", c_uint64),
        ("method", c_char_p),
        ("url", c_char_p),
        ("content_type", c_char_p),
        ("body", POINTER(c_uint8)),
        ("body_len", c_size_t),
        ("headers", POINTER(c_char_p)),
        ("timeout_ms", c_uint32),
    ]


TRANSPORT_CALLBACK = ctypes.CFUNCTYPE(None, POINTER(TrackerRequestStruct), c_void_p)


class _TransportArg:
    """Argument type for tracker_transport_callback that also accepts None (a NULL callback)."""

    @classmethod
    def from_param(cls, obj):
        if obj is None:
            return TRANSPORT_CALLBACK()  # NULL function pointer
        return TRANSPORT_CALLBACK.from_param(obj)


TrackerPtr = c_void_p

_PROTOTYPES = {
    "tracker_version": (c_char_p, []),
    "tracker_result_name": (c_char_p, [c_int32]),
    "tracker_last_error": (c_char_p, []),
    "tracker_create": (c_int32, [c_char_p, POINTER(TrackerPtr)]),
    "tracker_destroy": (None, [TrackerPtr]),
    "tracker_set_storage": (c_int32, [TrackerPtr, c_int32]),
    "tracker_get_storage": (c_int32, [TrackerPtr, POINTER(c_int32)]),
    "tracker_send": (c_int32, [TrackerPtr, c_char_p]),
    "tracker_dispatch": (c_int32, [TrackerPtr]),
    "tracker_flush": (c_int32, [TrackerPtr, c_uint32]),
    "tracker_set_online": (c_int32, [TrackerPtr, c_bool]),
    "tracker_set_opt_out": (c_int32, [TrackerPtr, c_bool]),
    "tracker_set_consent": (c_int32, [TrackerPtr, c_int32]),
    "tracker_get_consent": (c_int32, [TrackerPtr, POINTER(c_int32)]),
    "tracker_offline_count": (c_int32, [TrackerPtr, POINTER(c_uint64)]),
    "tracker_offline_get": (c_int32, [TrackerPtr, c_uint64, POINTER(c_void_p)]),
    "tracker_offline_oldest": (c_int32, [TrackerPtr, POINTER(c_void_p)]),
    "tracker_offline_latest": (c_int32, [TrackerPtr, POINTER(c_void_p)]),
    "tracker_offline_delete": (c_int32, [TrackerPtr, POINTER(c_uint64)]),
    "tracker_offline_delete_older_than": (c_int32, [TrackerPtr, c_uint64, POINTER(c_uint64)]),
    "tracker_stats": (c_int32, [TrackerPtr, POINTER(c_void_p)]),
    "tracker_string_free": (None, [c_void_p]),
    "tracker_set_event_callback": (c_int32, [TrackerPtr, _CallbackArg, c_void_p]),
    "tracker_set_transport": (c_int32, [TrackerPtr, _TransportArg, c_void_p]),
    "tracker_transport_complete": (c_int32, [TrackerPtr, c_uint64, c_int32, c_char_p, c_char_p]),
}

FUNCTION_NAMES = tuple(_PROTOTYPES)


def library_path():
    return os.environ.get("OFFTRACK_LIB") or os.path.join(REPO_ROOT, "target", "release", "libofftrack.so")


_loaded = {}


def load(path=None):
    """Load the shared library once per path and declare every prototype."""
    path = path or library_path()
    if path in _loaded:
        return _loaded[path]
    # CDLL, not PyDLL: calls release the GIL so worker-thread callbacks can run.
    lib = ctypes.CDLL(path)
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, name, None)
        if fn is None:
            continue  # test_every_function_of_the_header_is_exported names what is missing
        fn.restype = restype
        fn.argtypes = argtypes
    _loaded[path] = lib
    return lib


def _to_bytes(s):
    if s is None or isinstance(s, bytes):
        return s
    return s.encode("utf-8")


def last_error(lib):
    raw = lib.tracker_last_error()
    return "" if raw is None else raw.decode("utf-8")


def take_string(lib, ptr):
    """Copy a library-owned string and free it with tracker_string_free."""
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        lib.tracker_string_free(ptr)


def create_raw(lib, config):
    """tracker_create with a dict (JSON-encoded), str or bytes config. Returns (rc, handle, last_error)."""
    if isinstance(config, dict):
        config = json.dumps(config)
    handle = TrackerPtr()
    rc = lib.tracker_create(_to_bytes(config), byref(handle))
    err = last_error(lib) if rc != OK else ""
    return rc, handle, err


class TrackerError(Exception):
    def __init__(self, func, rc, message):
        super().__init__(f"{func} returned {RESULT_NAMES.get(rc, rc)}: {message!r}")
        self.rc = rc
        self.message = message


def url_params(url):
    """Decoded query parameters of a URL, as a list of pairs (order and repeats kept)."""
    if url is None:
        return []
    return urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True)


def url_param(url, name):
    for k, v in url_params(url):
        if k == name:
            return v
    return None


class Event(namedtuple("Event", "kind id hit http_status reason")):
    __slots__ = ()

    @property
    def kind_name(self):
        return KIND_NAMES.get(self.kind, str(self.kind))

    @property
    def n(self):
        """The test's own sequence number, carried in every hit as n=<int>."""
        v = url_param(self.hit, "n")
        return int(v) if v is not None else None

    def __repr__(self):
        return f"Event({self.kind_name}, id={self.id}, n={self.n}, status={self.http_status}, reason={self.reason!r}, hit={self.hit!r})"


def wait_until(predicate, timeout=5.0, interval=0.01, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class EventRecorder:
    """Records events as (kind, id, hit, http_status, reason); strings are copied inside the callback."""

    def __init__(self):
        self._cond = threading.Condition()
        self._events = []
        self._id_to_n = {}
        self.errors = []
        self.thread_ids = set()
        self.closed = False
        # Must stay referenced for as long as native code may call it.
        self.callback = EVENT_CALLBACK(self._on_event)

    def _on_event(self, ev_ptr, _user_data):
        try:
            if self.closed:
                raise AssertionError("event callback ran after it was removed or the tracker destroyed")
            ev = ev_ptr.contents
            event = Event(
                ev.kind,
                ev.id,
                None if ev.hit is None else ev.hit.decode("utf-8"),
                ev.http_status,
                None if ev.reason is None else ev.reason.decode("utf-8"),
            )
            with self._cond:
                self._events.append(event)
                if event.n is not None:
                    self._id_to_n.setdefault(event.id, event.n)
                self.thread_ids.add(threading.get_ident())
                self._cond.notify_all()
        except BaseException:  # exceptions cannot cross into native code: keep them for the test
            self.errors.append(traceback.format_exc())

    @property
    def events(self):
        with self._cond:
            return list(self._events)

    def __len__(self):
        with self._cond:
            return len(self._events)

    def wait_for(self, predicate, timeout=5.0, message="events"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate(list(self._events)):
                    return list(self._events)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for {message}; events so far: {self._events}"
                    )
                self._cond.wait(remaining)

    def n_of(self, event):
        """The hit number of an event, through its id when the event's own hit text lacks it."""
        if event.n is not None:
            return event.n
        with self._cond:
            return self._id_to_n.get(event.id)

    def of_kind(self, kind):
        return [e for e in self.events if e.kind == kind]

    def finals(self):
        return [e for e in self.events if e.kind in FINAL_KINDS]

    def final_by_n(self):
        return {self.n_of(e): e for e in self.finals()}

    def kinds_by_n(self):
        out = {}
        for e in self.events:
            out.setdefault(self.n_of(e), []).append(e.kind_name)
        return out

    def _n_locked(self, event):
        return event.n if event.n is not None else self._id_to_n.get(event.id)

    def wait_final(self, ns, timeout=5.0):
        """Wait until every hit numbered in ns has a final event; returns {n: event}."""
        want = set(ns)
        self.wait_for(lambda evs: want <= {self._n_locked(e) for e in evs if e.kind in FINAL_KINDS}, timeout,
                      f"final events for n={sorted(want)}")
        return {n: e for n, e in self.final_by_n().items() if n in want}

    def check_invariants(self, require_final_for=()):
        """At most one STORED and at most one final event per id, STORED before final, one hit per id."""
        problems = []
        per_id = {}
        for e in self.events:
            per_id.setdefault(e.id, []).append(e)
        for hid, evs in per_id.items():
            kinds = [e.kind for e in evs]
            if kinds.count(EVENT_STORED) > 1:
                problems.append(f"id {hid}: more than one STORED: {evs}")
            finals = [k for k in kinds if k in FINAL_KINDS]
            if len(finals) > 1:
                problems.append(f"id {hid}: more than one final event: {evs}")
            if EVENT_STORED in kinds and finals and kinds.index(EVENT_STORED) > kinds.index(finals[0]):
                problems.append(f"id {hid}: STORED after its final event: {evs}")
            if len({e.n for e in evs if e.n is not None}) > 1:
                problems.append(f"id {hid}: events for different hits: {evs}")
        by_n = {}
        for e in self.events:
            by_n.setdefault(e.n, set()).add(e.id)
        for n, ids in by_n.items():
            if n is not None and len(ids) > 1:
                problems.append(f"hit n={n} reported under several ids {sorted(ids)}")
        for n in require_final_for:
            finals = [e for e in self.events if self.n_of(e) == n and e.kind in FINAL_KINDS]
            if len(finals) != 1:
                problems.append(f"hit n={n}: expected exactly one final event, got {finals}")
        return problems


# ---------------------------------------------------------------- host-provided transport


class HostRequest(namedtuple("HostRequest", "request_id method url content_type body headers timeout_ms "
                                            "thread_id mono user_data")):
    """A tracker_request copied inside the transport callback (its pointers die with the call).
    body: bytes, or None for a NULL body; headers: list of (name, value) pairs."""
    __slots__ = ()

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def params(self):
        return url_params(self.url)

    @property
    def n(self):
        v = url_param(self.url, "n")
        return int(v) if v is not None else None


def copy_request(req):
    """Copy every field of a tracker_request; raises on a malformed one (the caller records it)."""
    headers = []
    if req.headers:
        i = 0
        while req.headers[i] is not None:
            name = req.headers[i]
            value = req.headers[i + 1]
            if value is None:
                raise AssertionError(f"header {name!r} without a value (odd headers list)")
            headers.append((name.decode("utf-8"), value.decode("utf-8")))
            i += 2
    if req.body:
        body = ctypes.string_at(req.body, req.body_len)
    else:
        if req.body_len != 0:
            raise AssertionError(f"NULL body with body_len {req.body_len}")
        body = None
    return dict(
        request_id=req.request_id,
        method=None if req.method is None else req.method.decode("utf-8"),
        url=None if req.url is None else req.url.decode("utf-8"),
        content_type=None if req.content_type is None else req.content_type.decode("utf-8"),
        body=body,
        headers=headers,
        timeout_ms=req.timeout_ms,
    )


def perform(request, extra_headers=None):
    """Make the HTTP request a tracker asked for, with http.client (which never follows redirects).
    Returns (http_status, retry_after, error) as tracker_transport_complete takes them."""
    split = urllib.parse.urlsplit(request.url)
    headers = dict(request.headers)
    if request.content_type is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = request.content_type
    headers.update(extra_headers or {})
    target = split.path + ("?" + split.query if split.query else "")
    conn_class = http.client.HTTPSConnection if split.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(split.hostname, split.port, timeout=max(request.timeout_ms, 1) / 1000)
    try:
        conn.request(request.method, target, body=request.body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Retry-After"), None
    except (OSError, http.client.HTTPException) as e:
        return 0, None, f"{type(e).__name__}: {e}"
    finally:
        conn.close()


class HostTransport:
    """A host-provided transport for tests. Its callback copies each request, records it, hands it
    to `handler(transport, request)` (still inside the callback, on the tracker's worker thread) and
    returns. Completion goes through `complete`, which refuses to call the library once the tracker
    is destroyed (the wrapper's side of "no completion after tracker_destroy").

    Handlers: None (record only: the test completes), `HostTransport.threaded(...)` (a new thread
    performs the HTTP request after `delay` and completes), or any function."""

    def __init__(self, lib, handler=None, user_data=None):
        self.lib = lib
        self.handler = handler
        self.user_data = user_data
        self.tracker = None  # set by Tracker.set_transport
        self._cond = threading.Condition()
        self._requests = []
        self.completions = []  # (request_id, status, rc) of every completion made through complete()
        self.errors = []
        self.closed = False  # set once the tracker is destroyed or the transport replaced
        self.threads = []
        self._settled = set()  # ids completed with TRACKER_OK, or whose completion call is under way
        self.in_flight_before = []  # per request: how many earlier ones were not completed when it started
        # Must stay referenced for as long as native code may call it.
        self.callback = TRANSPORT_CALLBACK(self._on_request)

    def _on_request(self, req_ptr, user_data):
        try:
            if self.closed:
                raise AssertionError("transport callback ran after it was replaced or the tracker destroyed")
            fields = copy_request(req_ptr.contents)
            request = HostRequest(thread_id=threading.get_ident(), mono=time.monotonic(), user_data=user_data,
                                  **fields)
            with self._cond:
                if request.request_id in {r.request_id for r in self._requests}:
                    raise AssertionError(f"request id {request.request_id} given twice")
                self.in_flight_before.append(
                    sum(1 for r in self._requests if r.request_id not in self._settled))
                self._requests.append(request)
                self._cond.notify_all()
            if self.handler is not None:
                self.handler(self, request)
        except BaseException:  # exceptions cannot cross into native code: keep them for the test
            self.errors.append(traceback.format_exc())

    @property
    def requests(self):
        with self._cond:
            return list(self._requests)

    def wait_requests(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"transport: expected {n} requests within {timeout}s, got "
                                         f"{[(r.method, r.url) for r in self._requests]}")
                self._cond.wait(remaining)
            return list(self._requests)

    def complete(self, request, status, retry_after=None, error=None):
        """tracker_transport_complete for a request (or a request id). Returns its result, or None
        when the tracker is already destroyed (then the library is not called at all)."""
        request_id = request if isinstance(request, int) else request.request_id
        tracker = self.tracker
        with tracker._life:
            handle = tracker.handle or tracker._destroying
            if handle is None:  # tracker_destroy has returned: the library must not be called
                with self._cond:
                    self.completions.append((request_id, status, None))
                return None
            with self._cond:
                first = request_id not in self._settled
                self._settled.add(request_id)  # before the call: the next request may start inside it
            rc = self.lib.tracker_transport_complete(handle, request_id, status, _to_bytes(retry_after),
                                                     _to_bytes(error))
        with self._cond:
            self.completions.append((request_id, status, rc))
            if rc != OK and first:
                self._settled.discard(request_id)
            self._cond.notify_all()
        return rc

    def perform_and_complete(self, request, extra_headers=None, delay=0.0):
        if delay:
            time.sleep(delay)
        status, retry_after, error = perform(request, extra_headers)
        return self.complete(request, status, retry_after, error)

    @staticmethod
    def threaded(delay=0.0, extra_headers=None):
        """Handler: a new thread performs each request (after `delay` seconds) and completes it."""

        def handler(transport, request):
            def run():
                try:
                    rc = transport.perform_and_complete(request, extra_headers, delay)
                    if rc not in (OK, None):
                        raise AssertionError(f"completion of {request.request_id} returned "
                                             f"{RESULT_NAMES.get(rc, rc)}: {last_error(transport.lib)!r}")
                except BaseException:
                    transport.errors.append(traceback.format_exc())

            th = threading.Thread(target=run, name=f"host-request-{request.request_id}", daemon=True)
            transport.threads.append(th)
            th.start()

        return handler

    def join(self, timeout=10.0):
        for th in list(self.threads):
            th.join(timeout)


class Tracker:
    """Thin owner of a tracker handle. Methods mirror the C API and return its result codes;
    the query helpers raise TrackerError on a non-OK result and return parsed values."""

    def __init__(self, lib, handle, config):
        self.lib = lib
        self.handle = handle
        self.config = config
        self.recorder = None
        self._callbacks = []  # every callback ever installed stays referenced
        self.transport = None
        self._transports = []  # every transport ever installed stays referenced
        self._life = threading.RLock()  # a completion and destroy's "handle gone" never interleave
        self._destroying = None

    @classmethod
    def create(cls, lib, config, record=True):
        rc, handle, err = create_raw(lib, config)
        if rc != OK:
            raise TrackerError("tracker_create", rc, err)
        t = cls(lib, handle, config)
        if record:
            t.set_callback(EventRecorder())
        return t

    # lifecycle
    def destroy(self):
        with self._life:
            if self.handle is None:
                return
            handle, self.handle = self.handle, None
            self._destroying = handle  # completions may still end a request in flight during destroy
        self.lib.tracker_destroy(handle)
        with self._life:
            self._destroying = None
        if self.recorder is not None:
            self.recorder.closed = True
        for tr in self._transports:
            tr.closed = True

    @property
    def alive(self):
        return self.handle is not None

    def _check(self, func, rc):
        if rc != OK:
            raise TrackerError(func, rc, last_error(self.lib))

    # events
    def set_callback(self, recorder):
        """Install a recorder (or remove the callback with None). Once the call returns, the
        previous recorder must receive nothing more: it is marked closed and flags late calls."""
        previous = self.recorder
        if recorder is not None:
            self._callbacks.append(recorder)
        rc = self.lib.tracker_set_event_callback(
            self.handle, None if recorder is None else recorder.callback, None)
        if rc == OK:
            self.recorder = recorder
            if previous is not None and previous is not recorder:
                previous.closed = True
        return rc

    # host-provided transport
    def set_transport(self, transport, user_data=None):
        """Install a HostTransport (None: back to the built-in client). Once the call returns, the
        previous transport must be called no more: it is marked closed and flags late calls."""
        previous = self.transport
        if transport is not None:
            transport.tracker = self
            self._transports.append(transport)
        rc = self.lib.tracker_set_transport(
            self.handle, None if transport is None else transport.callback,
            None if user_data is None else c_void_p(user_data))
        if rc == OK:
            self.transport = transport
            if previous is not None and previous is not transport:
                previous.closed = True
        return rc

    # commands (return result codes)
    def send(self, hit):
        return self.lib.tracker_send(self.handle, _to_bytes(hit))

    def send_ok(self, *hits):
        for h in hits:
            rc = self.send(h)
            if rc != OK:
                raise TrackerError(f"tracker_send({h!r})", rc, last_error(self.lib))

    def send_n(self, ns, **extra):
        """Send hits 'n=<k>' for k in ns (extra parameters appended)."""
        suffix = "".join(f"&{k}={v}" for k, v in extra.items())
        self.send_ok(*[f"n={k}{suffix}" for k in ns])

    def dispatch(self):
        return self.lib.tracker_dispatch(self.handle)

    def flush(self, timeout_ms=10000):
        return self.lib.tracker_flush(self.handle, timeout_ms)

    def flush_ok(self, timeout_ms=10000):
        self._check("tracker_flush", self.flush(timeout_ms))

    def set_online(self, online):
        return self.lib.tracker_set_online(self.handle, bool(online))

    def set_opt_out(self, opt_out):
        return self.lib.tracker_set_opt_out(self.handle, bool(opt_out))

    def set_consent(self, consent):
        return self.lib.tracker_set_consent(self.handle, consent)

    def set_storage(self, mode):
        return self.lib.tracker_set_storage(self.handle, mode)

    # queries
    def get_storage(self):
        out = c_int32(-1)
        self._check("tracker_get_storage", self.lib.tracker_get_storage(self.handle, byref(out)))
        return out.value

    def get_consent(self):
        out = c_int32(-1)
        self._check("tracker_get_consent", self.lib.tracker_get_consent(self.handle, byref(out)))
        return out.value

    def offline_count(self):
        out = c_uint64()
        self._check("tracker_offline_count", self.lib.tracker_offline_count(self.handle, byref(out)))
        return out.value

    def _json_call(self, func, *args):
        out = c_void_p()
        rc = getattr(self.lib, func)(self.handle, *args, byref(out))
        text = take_string(self.lib, out)
        self._check(func, rc)
        if text is None:
            raise AssertionError(f"{func} returned OK but a NULL string")
        return text

    def offline_get_json(self, max_hits):
        return self._json_call("tracker_offline_get", max_hits)

    def offline_get(self, max_hits=1000000):
        return json.loads(self.offline_get_json(max_hits))

    def offline_oldest_json(self):
        return self._json_call("tracker_offline_oldest")

    def offline_latest_json(self):
        return self._json_call("tracker_offline_latest")

    def offline_oldest(self):
        return json.loads(self.offline_oldest_json())

    def offline_latest(self):
        return json.loads(self.offline_latest_json())

    def offline_ns(self):
        return [int(url_param(h["hit"], "n")) for h in self.offline_get()]

    def offline_delete(self):
        out = c_uint64(12345)
        self._check("tracker_offline_delete", self.lib.tracker_offline_delete(self.handle, byref(out)))
        return out.value

    def offline_delete_older_than(self, age_seconds):
        out = c_uint64(12345)
        self._check("tracker_offline_delete_older_than",
                    self.lib.tracker_offline_delete_older_than(self.handle, age_seconds, byref(out)))
        return out.value

    def stats(self):
        return json.loads(self._json_call("tracker_stats"))

    # convenience
    @property
    def events(self):
        return self.recorder.events if self.recorder else []
