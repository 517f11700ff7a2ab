"""Shared helpers of the reliability suite: paths, fast configs, child
processes, a TLS collector, and on-disk inspection of a storage directory.

Reuses the binding and the collector of tests/python (imported, not copied)."""

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PY_TESTS = os.path.join(REPO_ROOT, "tests", "python")
for p in (PY_TESTS, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import collector as _collector  # noqa: E402
import offtrack as ot  # noqa: E402
from collector import Collector  # noqa: E402

# Fast timings so failures, retries and shutdowns fit a test's budget.
BASE_CONFIG = {
    "request_timeout_seconds": 1,
    "retry_base_ms": 50,
    "retry_max_ms": 200,
    "shutdown_timeout_ms": 500,
}

SOAK = os.environ.get("OFFTRACK_SOAK", "") not in ("", "0")


def config(endpoint, **overrides):
    cfg = {"endpoint": endpoint, **BASE_CONFIG}
    cfg.update(overrides)
    if isinstance(cfg.get("storage_path"), os.PathLike):
        cfg["storage_path"] = os.fspath(cfg["storage_path"])
    return cfg


def child_env(extra=None, drop=()):
    env = dict(os.environ)
    paths = [HERE, PY_TESTS] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("OFFTRACK_LIB", ot.library_path())
    env["PYTHONUNBUFFERED"] = "1"
    for k in drop:
        env.pop(k, None)
    env.update(extra or {})
    return env


def run_child(script, args, timeout, env=None, **kwargs):
    """Runs tests/reliability/<script> with the same interpreter; returns CompletedProcess.
    A child that outlives `timeout` is killed and reported (a watchdog, not a hang)."""
    cmd = [sys.executable, os.path.join(HERE, script)] + [str(a) for a in args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=env or child_env(), **kwargs)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise AssertionError(f"{script} did not finish within {timeout}s (deadlock or hang?)\n"
                             f"stdout tail: {out[-2000:]}\nstderr tail: {err[-4000:]}") from None


def seed():
    """The seed of a randomised test: OFFTRACK_SEED if set, else from the
    clock. Printed (pytest shows it with a failure) so a run can be replayed."""
    value = int(os.environ.get("OFFTRACK_SEED", time.time_ns() % 2**32))
    print(f"seed: OFFTRACK_SEED={value}", flush=True)
    return value


def run_seeded(body, *args):
    """Runs body(*args, rng) with a printed, replayable seed (see `seed`)."""
    import random
    value = seed()
    with replayable(value):
        return body(*args, random.Random(value))


@contextlib.contextmanager
def replayable(seed_value):
    """Adds the replay command to any failure inside the block."""
    try:
        yield
    except BaseException as e:
        e.add_note(f"replay with OFFTRACK_SEED={seed_value}")
        raise


def run_until_killed(script, args, kill_after, ready="ready", timeout=30):
    """Runs tests/reliability/<script>, waits (up to `timeout`) for it to
    print the line `ready` (or, for a `ready` ending in a space, a line
    starting with it), lets it run `kill_after` more seconds and
    SIGKILLs it. Returns (returncode, complete stdout lines, stderr): a last
    line without its newline was cut by the kill and is left out."""
    cmd = [sys.executable, os.path.join(HERE, script)] + [str(a) for a in args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    lines, errs, is_ready = [], [], threading.Event()

    def read_out():
        for raw in proc.stdout:
            if raw.endswith(b"\n"):
                line = raw[:-1].decode(errors="replace")
                lines.append(line)
                # A `ready` ending in a space matches any line it starts.
                if line == ready or (ready.endswith(" ") and line.startswith(ready)):
                    is_ready.set()
        is_ready.set()  # the child ended by itself: no point waiting

    readers = [threading.Thread(target=read_out, daemon=True),
               threading.Thread(target=lambda: errs.append(proc.stderr.read()), daemon=True)]
    for r in readers:
        r.start()
    try:
        is_ready.wait(timeout)
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    for r in readers:
        r.join(10)
    return proc.returncode, list(lines), b"".join(errs).decode(errors="replace")


def last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError(f"no JSON result line in child output:\n{text[-3000:]}")


def figure(name, **values):
    """Prints a figure line that RELIABILITY.md quotes (visible with pytest -s or in the log)."""
    line = "FIGURE " + name + " " + " ".join(f"{k}={v}" for k, v in values.items())
    print(line, flush=True)
    path = os.environ.get("OFFTRACK_FIGURES")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


# ----------------------------------------------------------------- disk helpers


def walk_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            yield os.path.join(dirpath, name)


def allocated_bytes(root):
    """Bytes the files under root really occupy on disk (st_blocks), and their apparent size."""
    alloc = apparent = 0
    for path in walk_files(root):
        st = os.lstat(path)
        alloc += st.st_blocks * 512
        apparent += st.st_size
    return alloc, apparent


def files_containing(root, marker):
    marker = marker.encode() if isinstance(marker, str) else marker
    hits = []
    for path in walk_files(root):
        try:
            with open(path, "rb") as f:
                if marker in f.read():
                    hits.append(os.path.relpath(path, root))
        except OSError:
            pass
    return sorted(hits)


def snapshot(root):
    """{relative path: (mode, size, bytes)} of every file, to prove nothing was touched."""
    out = {}
    for path in walk_files(root):
        st = os.lstat(path)
        with open(path, "rb") as f:
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_size, f.read())
    return out


# ----------------------------------------------------------------- TLS collector


class _TLSServer(_collector._Server):
    ssl_context = None

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake runs on the handler thread, so a client that refuses
        # the certificate cannot stall the accept loop.
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.settimeout(5)
            request.do_handshake()
        except (ssl.SSLError, OSError) as e:
            with self.collector._cond:
                self.collector.handshake_errors.append(repr(e))
            return
        super().finish_request(request, client_address)


class TLSCollector(Collector):
    """The tests/python collector behind TLS: same modes, same recording."""

    def __init__(self, certfile, keyfile, host="127.0.0.1"):
        super().__init__(host)
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.handshake_errors = []

    @property
    def url(self):
        return f"https://{self.host}:{self.port}"

    def _listen(self, port):
        server = _TLSServer((self.host, port), self)
        server.ssl_context = self.ctx
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                  name=f"tls-collector-{self.port}", daemon=True)
        self._server, self._thread = server, thread
        thread.start()


def make_test_pki(directory):
    """A test CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI.
    Returns dict(ca, cert, key)."""
    os.makedirs(directory, exist_ok=True)
    ca_key, ca_crt = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.crt")
    key, csr, crt = (os.path.join(directory, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=Offtrack Test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return {"ca": ca_crt, "cert": crt, "key": key}


def system_ca_bundle():
    for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                 "/etc/ssl/cert.pem"):
        if os.path.exists(path):
            return path
    return None


def wait_until(predicate, timeout=5.0, interval=0.01, message="condition"):
    return ot.wait_until(predicate, timeout, interval, message)
