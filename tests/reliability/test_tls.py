"""HTTPS against a real TLS server on loopback: certificates are verified
against the platform trust store (on Linux the bundle SSL_CERT_FILE points
at); an unknown CA is refused. One child process per case."""

import os

import pytest

import rel
import offtrack as ot


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    try:
        return rel.make_test_pki(os.fspath(d))
    except (OSError, Exception) as e:  # noqa: BLE001
        pytest.skip(f"SKIPPED: cannot make test certificates with the openssl CLI "
                    f"(apt-get install -y openssl): {e}")


@pytest.fixture
def tls_collector(pki):
    c = rel.TLSCollector(pki["cert"], pki["key"]).start()
    yield c
    c.stop()


def _run(tls_collector, mode, storage, env):
    proc = rel.run_child("tls_child.py", [tls_collector.endpoint, mode, storage], timeout=60, env=env)
    assert proc.returncode == 0, f"child failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}"
    return rel.last_json_line(proc.stdout)


def _untrusting_env(tmp_path):
    # Only the system bundle: the test CA is unknown.
    bundle = rel.system_ca_bundle()
    extra = {"SSL_CERT_FILE": bundle} if bundle else {"SSL_CERT_FILE": os.fspath(tmp_path / "empty.pem")}
    if not bundle:
        (tmp_path / "empty.pem").write_text("")
    return rel.child_env(extra, drop=("SSL_CERT_DIR",))


@pytest.fixture(scope="module")
def refused(pki, tmp_path_factory):
    """Both modes against a server whose CA the client does not know; each its own process."""
    tmp = tmp_path_factory.mktemp("refused")
    out = {}
    for mode in ("required", "never"):
        c = rel.TLSCollector(pki["cert"], pki["key"]).start()
        try:
            run = _run(c, mode, os.fspath(tmp / mode), _untrusting_env(tmp))
            run["arrived"] = c.count
            run["handshake_errors"] = list(c.handshake_errors)
        finally:
            c.stop()
        out[mode] = run
    return out


def test_unknown_ca_is_refused_and_kept_in_required_mode(refused):
    out = refused["required"]
    assert out["send"] == ot.OK
    assert [e[0] for e in out["events"]] == ["STORED"], out
    assert out["count"] == 1, "the refused hit must stay stored"
    assert out["arrived"] == 0, "the hit reached a server whose certificate was not trusted"
    assert out["handshake_errors"], "no TLS handshake was attempted"
    rel.figure("tls_unknown_ca", required_reason=repr(out["events"][0][2][:70]))


def test_unknown_ca_is_refused_and_dropped_in_never_mode(refused):
    out = refused["never"]
    assert [e[0] for e in out["events"]] == ["DROPPED"], out
    assert out["arrived"] == 0
    assert out["count"] == 0


@pytest.mark.parametrize("mode", ["required", "never"])
def test_unknown_ca_reason_says_tls(refused, mode):
    reason = refused[mode]["events"][0][2]
    # The layer comes first, like "network: …" or "timeout: …".
    assert reason.startswith("TLS:"), f"reason does not say TLS: {reason!r}"


def test_trusted_test_ca_is_accepted(tls_collector, pki, tmp_path):
    bundle = tmp_path / "bundle.pem"
    system = rel.system_ca_bundle()
    bundle.write_text((open(system).read() if system else "") + open(pki["ca"]).read())
    env = rel.child_env({"SSL_CERT_FILE": os.fspath(bundle)}, drop=("SSL_CERT_DIR",))
    out = _run(tls_collector, "required", os.fspath(tmp_path / "s"), env)
    assert [e[0] for e in out["events"]] == ["SENT"], out
    assert out["count"] == 0
    req = tls_collector.wait_for(1)[0]
    assert req.param("tls") == "1"
