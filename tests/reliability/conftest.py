import os

import pytest

import rel  # noqa: F401  (puts tests/python on sys.path)
import offtrack as ot
from collector import Collector


@pytest.fixture(scope="session")
def lib():
    path = ot.library_path()
    if not os.path.exists(path):
        pytest.fail(f"Offtrack library not found at {path}: build it first or set OFFTRACK_LIB", pytrace=False)
    return ot.load(path)


@pytest.fixture
def collector():
    c = Collector().start()
    yield c
    c.stop()


@pytest.fixture
def storage_dir(tmp_path):
    return tmp_path / "store"


@pytest.fixture
def make_tracker(lib, collector):
    """Trackers with the fast base config; destroyed at teardown, their event
    recorders checked for callback exceptions and event invariants."""
    trackers = []

    def factory(record=True, endpoint=None, **overrides):
        t = ot.Tracker.create(lib, rel.config(endpoint or collector.endpoint, **overrides), record=record)
        trackers.append(t)
        return t

    yield factory
    for t in reversed(trackers):
        t.destroy()
    problems = []
    for t in trackers:
        for r in t._callbacks:
            problems += r.errors
            problems += r.check_invariants()
    assert not problems, "\n".join(problems)
