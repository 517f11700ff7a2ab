"""A real HTTP collector on 127.0.0.1 whose behaviour tests switch at run time.

Modes:
  ok      answer 200
  status  answer a given status (optional Retry-After and Location headers)
  hang    accept and read the request, then never answer until release() or stop()
  reset   accept the connection and reset it (RST) without reading (counts probes while "offline")
  close   read the request line, then close the connection without any answer
  down    (via down()/up()) the listening socket is closed, so connections are refused;
          up() listens again on the same port.

Rules (rule()) are checked first: the first whose match(request) is true answers, e.g. to refuse
one particular hit's GET. Then a script of one-shot responses (script()) is consumed, one per
request. Then the mode answers.

Batches: a POST's body is recorded. Request.hits gives the hits a request carries as Hit objects
(the query of a GET; one per line of a `text/plain` body, or one per item of a JSON body
{"requests": ["?<query>", ...]}, chosen by the request's Content-Type).
"""

import json
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Query:
    """Parameter access shared by a request and by each hit inside a batch."""

    def param(self, name):
        for k, v in self.query:
            if k == name:
                return v
        return None

    def params(self, name):
        return [v for k, v in self.query if k == name]

    @property
    def n(self):
        v = self.param("n")
        return int(v) if v is not None else None


def parse_query(raw):
    return urllib.parse.parse_qsl(raw, keep_blank_values=True)


@dataclass
class Hit(_Query):
    """One hit as the collector received it: the query of a GET, or one entry of a batch."""
    raw_query: str  # as received: a GET's query, a line, or a JSON item without its leading "?"
    query: list  # decoded (name, value) pairs, order and repeats kept


@dataclass
class Request(_Query):
    method: str
    path: str  # raw request target, e.g. "/hit?n=1&ts=1732280000"
    route: str  # path without the query
    raw_query: str
    query: list  # decoded (name, value) pairs, order and repeats kept
    headers: list  # (name, value) pairs as received
    time: float  # time.time() at arrival
    mono: float  # time.monotonic() at arrival
    body: bytes = b""  # the request body (empty for a GET)

    @property
    def content_type(self):
        return self.header("Content-Type")

    @property
    def batch_queries(self):
        """The raw query of every hit in a POST body, in body order. Raises AssertionError (with the
        body) when the body is not a well-formed batch in the format its Content-Type names."""
        if self.method != "POST":
            raise AssertionError(f"{self.method} {self.path} is not a batch")
        ctype = (self.content_type or "").split(";")[0].strip().lower()
        try:
            text = self.body.decode("utf-8")
            if ctype == "text/plain":
                if text == "":
                    raise ValueError("empty body")
                lines = text.split("\n")
                if any(line == "" or "\r" in line for line in lines):
                    raise ValueError("empty line, trailing newline or CR")
                return lines
            if ctype == "application/json":
                doc = json.loads(text)
                if not isinstance(doc, dict) or set(doc) != {"requests"} or not isinstance(doc["requests"], list):
                    raise ValueError('not {"requests": [...]}')
                items = doc["requests"]
                if not items or not all(isinstance(i, str) and i.startswith("?") for i in items):
                    raise ValueError('every item must be a string "?<query>"')
                return [i[1:] for i in items]
            raise ValueError(f"unknown Content-Type {self.content_type!r}")
        except (ValueError, UnicodeDecodeError) as e:
            raise AssertionError(f"malformed batch ({e}): {self.method} {self.path} "
                                 f"Content-Type={self.content_type!r} body={self.body[:2000]!r}") from None

    @property
    def hits(self):
        """The hits this request carries: [the GET's own query] or the entries of a POST batch."""
        if self.method == "POST":
            return [Hit(q, parse_query(q)) for q in self.batch_queries]
        return [Hit(self.raw_query, self.query)]

    @property
    def ns(self):
        """The n parameter of every hit this request carries."""
        return [h.n for h in self.hits]

    def header(self, name):
        vals = self.header_all(name)
        return vals[0] if vals else None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Response:
    status: int = 200
    headers: dict = field(default_factory=dict)


def _matches(match, req):
    try:
        return bool(match(req))
    except AssertionError:  # e.g. a malformed batch: no rule applies, the test sees the body itself
        return False


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = False  # server_close() joins handler threads: nothing outlives stop()
    block_on_close = True

    def __init__(self, addr, collector):
        self.collector = collector
        self.closing = False
        super().__init__(addr, _Handler)

    def verify_request(self, request, client_address):
        self.collector._on_connection()
        return True

    def handle_error(self, request, client_address):
        pass  # a client that gave up (timeout) makes writes fail; that is expected here


class _Handler(BaseHTTPRequestHandler):
    timeout = 5  # a silent client cannot keep a handler thread (and stop()) waiting for long
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def handle(self):
        mode = self.server.collector._mode
        if mode == "reset":
            # Linger 0: close() sends RST, the client sees "connection reset".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if mode == "close":
            # Read the request, then close without a status line.
            self.raw_requestline = self.rfile.readline(65537)
            self.close_connection = True
            return
        super().handle()

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self):
        collector = self.server.collector
        self.body = self._read_body()
        kind, response, release = collector._on_request(self)
        if kind == "hang":
            while not release.is_set():
                if self.server.closing:
                    self.close_connection = True
                    return
                release.wait(0.02)
            response = collector._release_response
        self.send_response(response.status)
        for k, v in response.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _serve


class Collector:
    def __init__(self, host="127.0.0.1", tls=None):
        """tls: optional (certfile, keyfile) to serve HTTPS instead of HTTP."""
        self.host = host
        self.tls = tls
        self.port = 0
        self._cond = threading.Condition()
        self._requests = []
        self._connections = 0
        self._connection_times = []
        self._mode = "ok"
        self._response = Response(200)
        self._script = deque()
        self._rules = []
        self._release = threading.Event()
        self._release_response = Response(200)
        self._server = None
        self._thread = None
        self._lifecycle = threading.Lock()

    # --- addresses
    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def endpoint(self):
        return self.url + "/hit"

    # --- server lifecycle
    def start(self):
        self._listen(0)
        return self

    def _listen(self, port):
        deadline = time.monotonic() + 5
        while True:
            try:
                server = _Server((self.host, port), self)
                break
            except OSError:
                if port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.port = server.server_address[1]
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            # The handshake happens on first read, in the handler thread, not in the accept loop.
            server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                  name=f"collector-{self.port}", daemon=True)
        self._server, self._thread = server, thread
        thread.start()

    def _close(self):
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.closing = True  # hanging handlers give up without answering
        server.shutdown()
        server.server_close()  # closes the listening socket and joins handler threads
        thread.join(5)

    def down(self):
        """Stop listening: connection attempts are refused until up()."""
        with self._lifecycle:
            self._close()

    def up(self):
        """Listen again on the same port."""
        with self._lifecycle:
            if self._server is None:
                self._listen(self.port)

    @property
    def is_up(self):
        return self._server is not None

    def stop(self):
        with self._lifecycle:
            self._close()

    # --- behaviour
    def set_ok(self):
        self._set("ok", Response(200))

    def set_status(self, status, retry_after=None, location=None, headers=None):
        h = dict(headers or {})
        if retry_after is not None:
            h["Retry-After"] = str(retry_after)
        if location is not None:
            h["Location"] = location
        self._set("status", Response(status, h))

    def set_hang(self):
        with self._cond:
            self._release = threading.Event()
            self._mode = "hang"

    def set_reset(self):
        self._set("reset", Response(200))

    def set_close(self):
        self._set("close", Response(200))

    def release(self, status=200):
        """Answer every hanging request with status and switch to answering normally."""
        with self._cond:
            self._release_response = Response(status)
            self._mode = "ok" if status == 200 else "status"
            self._response = Response(status)
            self._release.set()

    def script(self, *responses):
        """One-shot responses used before the mode: ints (status) or Response objects."""
        with self._cond:
            for r in responses:
                self._script.append(r if isinstance(r, Response) else Response(r))

    def rule(self, match, response, times=None):
        """Answer requests for which match(request) is true with response (an int status or a
        Response), `times` times (None: for as long as the collector lives). Rules come before the
        script and the mode; the first matching rule wins."""
        with self._cond:
            self._rules.append([match, response if isinstance(response, Response) else Response(response), times])

    def refuse_hit(self, n, status=400, method="GET"):
        """Answer `status` to every `method` request that carries the hit n=<n> (a GET by default)."""
        self.rule(lambda r: r.method == method and n in r.ns, status)

    def _set(self, mode, response):
        with self._cond:
            self._mode = mode
            self._response = response
            self._release_response = response
            self._release.set()

    # --- recording
    def _on_connection(self):
        with self._cond:
            self._connections += 1
            self._connection_times.append(time.monotonic())
            self._cond.notify_all()

    def _on_request(self, handler):
        split = urllib.parse.urlsplit(handler.path)
        req = Request(
            method=handler.command,
            path=handler.path,
            route=split.path,
            raw_query=split.query,
            query=urllib.parse.parse_qsl(split.query, keep_blank_values=True),
            headers=list(handler.headers.items()),
            time=time.time(),
            mono=time.monotonic(),
            body=handler.body,
        )
        with self._cond:
            self._requests.append(req)
            rule = next((r for r in self._rules if _matches(r[0], req)), None)
            if rule is not None:
                kind, response = "rule", rule[1]
                if rule[2] is not None:
                    rule[2] -= 1
                    if rule[2] <= 0:
                        self._rules.remove(rule)
            elif self._script:
                kind, response = "script", self._script.popleft()
            else:
                kind, response = self._mode, self._response
            release = self._release
            self._cond.notify_all()
        return kind, response, release

    @property
    def requests(self):
        with self._cond:
            return list(self._requests)

    @property
    def count(self):
        with self._cond:
            return len(self._requests)

    @property
    def connections(self):
        with self._cond:
            return self._connections

    @property
    def connection_times(self):
        """time.monotonic() of every accepted connection."""
        with self._cond:
            return list(self._connection_times)

    def ns(self):
        """The n parameter of every request, in arrival order."""
        return [r.n for r in self.requests]

    def hit_ns(self):
        """The n parameter of every hit, in arrival order, batches expanded."""
        return [n for r in self.requests for n in r.ns]

    def shape(self):
        """(method, route, [n of each hit carried]) of every request, in arrival order."""
        return [(r.method, r.route, r.ns) for r in self.requests]

    def wait_hits(self, n, timeout=5.0):
        """Wait until at least n hits have arrived (batches expanded); returns all requests."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                reqs = list(self._requests)
                got = sum(len(r.hits) for r in reqs)
                if got >= n:
                    return reqs
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"collector: expected {n} hits within {timeout}s, got {got}: "
                                         f"{[(r.method, r.path) for r in reqs]}")
                self._cond.wait(remaining)

    def wait_for(self, n, timeout=5.0):
        """Wait until at least n requests have arrived; returns all requests."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"collector: expected {n} requests within {timeout}s, got {len(self._requests)}: "
                        f"{[r.path for r in self._requests]}")
                self._cond.wait(remaining)
            return list(self._requests)

    def wait_connections(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._connections < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"collector: expected {n} connections within {timeout}s, "
                                         f"got {self._connections}")
                self._cond.wait(remaining)
            return self._connections

    def quiet_for(self, seconds):
        """Return the requests that arrive during the next `seconds` (negative checks)."""
        before = self.count
        time.sleep(seconds)
        return self.requests[before:]
