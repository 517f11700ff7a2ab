"""HTTPS: certificates are always verified, against the system trust store (SSL_CERT_FILE on Linux).

The HTTP client builds its TLS configuration once per process, so each case runs the tracker in a
child process with its own environment."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import offtrack as ot
from collector import Collector

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import json, sys
import offtrack
lib = offtrack.load()
t = offtrack.Tracker.create(lib, json.loads(sys.argv[1]))
rc = t.send("n=1")
t.flush(10000)
out = {"send": rc, "events": [[e.kind, e.http_status, e.reason] for e in t.recorder.events]}
if t.config.get("storage_path"):
    out["queue"] = t.offline_get()
t.destroy()
print(json.dumps(out))
"""


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=Offtrack Test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             cwd=d)

    def leaf(name, san):
        (d / f"{name}.ext").write_text(
            f"basicConstraints=CA:FALSE\nsubjectAltName={san}\nextendedKeyUsage=serverAuth\n"
            "keyUsage=digitalSignature,keyEncipherment\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
        return str(d / f"{name}.pem"), str(d / f"{name}.key")

    return {
        "ca": str(d / "ca.pem"),
        "ip": leaf("ip", "IP:127.0.0.1"),
        "other": leaf("other", "DNS:collector.example"),
    }


@pytest.fixture
def tls_collector(request, pki):
    c = Collector(tls=pki[request.param]).start()
    yield c
    c.stop()


def _run_child(config, ssl_cert_file):
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env.update(OFFTRACK_LIB=ot.library_path(), PYTHONPATH=HERE)
    if ssl_cert_file:
        env["SSL_CERT_FILE"] = ssl_cert_file
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(config)], env=env, cwd=HERE,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _config(collector, **extra):
    return {"endpoint": collector.endpoint, "request_timeout_seconds": 2, "retry_base_ms": 10000,
            "retry_max_ms": 10000, "shutdown_timeout_ms": 500, **extra}


@pytest.mark.parametrize("tls_collector", ["ip"], indirect=True)
def test_https_with_a_trusted_ca(tls_collector, pki):
    out = _run_child(_config(tls_collector), pki["ca"])
    assert out["send"] == ot.OK
    assert out["events"] == [[ot.EVENT_SENT, 200, ""]]
    assert tls_collector.ns() == [1]


@pytest.mark.parametrize("tls_collector", ["ip"], indirect=True)
def test_https_with_an_untrusted_certificate_is_unreachable(tls_collector, storage_dir):
    out = _run_child(_config(tls_collector, storage="required", storage_path=str(storage_dir)), None)
    assert out["send"] == ot.OK
    [[kind, status, reason]] = out["events"]
    assert (kind, status) == (ot.EVENT_STORED, 0)
    assert reason
    assert [item["attempts"] for item in out["queue"]] == [0]
    assert tls_collector.count == 0


@pytest.mark.parametrize("tls_collector", ["other"], indirect=True)
def test_https_certificate_for_another_name_is_refused(tls_collector, pki):
    out = _run_child(_config(tls_collector), pki["ca"])
    [[kind, status, _reason]] = out["events"]
    assert (kind, status) == (ot.EVENT_DROPPED, 0)
    assert tls_collector.count == 0


BATCH_CHILD = r"""
import json, sys
import offtrack
lib = offtrack.load()
t = offtrack.Tracker.create(lib, json.loads(sys.argv[1]))
t.send_n([1, 2, 3])
lines = [i["hit"].split("?", 1)[1] for i in t.offline_get()]
t.dispatch()
t.flush(10000)
out = {"lines": lines, "events": [[e.kind, e.http_status, e.n] for e in t.recorder.finals()]}
t.destroy()
print(json.dumps(out))
"""


@pytest.mark.parametrize("tls_collector", ["ip"], indirect=True)
@pytest.mark.parametrize("fmt", ["lines", "json"])
def test_batch_post_over_https(tls_collector, pki, storage_dir, fmt):
    config = _config(tls_collector, storage="always", storage_path=str(storage_dir),
                     batch_endpoint=tls_collector.url + "/batch", batch_format=fmt)
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env.update(OFFTRACK_LIB=ot.library_path(), PYTHONPATH=HERE, SSL_CERT_FILE=pki["ca"])
    proc = subprocess.run([sys.executable, "-c", BATCH_CHILD, json.dumps(config)], env=env, cwd=HERE,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    [req] = tls_collector.requests
    assert (req.method, req.route, req.ns) == ("POST", "/batch", [1, 2, 3])
    assert [h.raw_query for h in req.hits] == out["lines"]
    assert out["events"] == [[ot.EVENT_SENT, 200, n] for n in (1, 2, 3)]
