import os

import pytest

import offtrack
from collector import Collector

# Fast timings so failures, retries and shutdowns happen within a test's budget.
BASE_CONFIG = {
    "request_timeout_seconds": 1,
    "retry_base_ms": 50,
    "retry_max_ms": 200,
    "shutdown_timeout_ms": 500,
}


@pytest.fixture(scope="session")
def lib():
    # Loaded lazily so that collection works before the library is built.
    path = offtrack.library_path()
    if not os.path.exists(path):
        pytest.fail(f"Offtrack library not found at {path}: build it first or set OFFTRACK_LIB", pytrace=False)
    return offtrack.load(path)


@pytest.fixture
def collector():
    c = Collector().start()
    yield c
    c.stop()


@pytest.fixture
def storage_dir(tmp_path):
    """A storage directory path that does not exist yet (the library creates it)."""
    return tmp_path / "store"


def _config(collector, overrides):
    cfg = {"endpoint": collector.endpoint, **BASE_CONFIG}
    cfg.update(overrides)
    if isinstance(cfg.get("storage_path"), os.PathLike):
        cfg["storage_path"] = os.fspath(cfg["storage_path"])
    return cfg


@pytest.fixture
def tracker_config(collector):
    """Build a config dict like make_tracker does, without creating a tracker."""
    return lambda **overrides: _config(collector, overrides)


@pytest.fixture
def make_tracker(lib, collector):
    """Create trackers (config = BASE_CONFIG + endpoint + overrides); all are destroyed at teardown,
    and their event recorders are checked for callback exceptions and event invariants."""
    trackers = []

    def factory(record=True, **overrides):
        t = offtrack.Tracker.create(lib, _config(collector, overrides), record=record)
        trackers.append(t)
        return t

    yield factory

    for t in reversed(trackers):
        t.destroy()
    problems = []
    for t in trackers:
        for rec in t._callbacks:
            problems += rec.errors
            problems += rec.check_invariants()
    assert not problems, "\n".join(problems)
