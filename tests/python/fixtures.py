"""Fixtures and helpers shared by the behaviour suite (tests/python) and the
reliability suite (tests/reliability), imported by both conftest files."""
import os

import pytest

import offtrack
from collector import Collector


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


def tracker_factory(lib, make_config):
    """Body of a make_tracker fixture: creates trackers from `make_config(**overrides)`,
    destroys them all at teardown and checks their event recorders for callback
    exceptions and event invariants, and their host transports for callback errors."""
    trackers = []

    def factory(record=True, **overrides):
        t = offtrack.Tracker.create(lib, make_config(**overrides), record=record)
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
        for tr in t._transports:
            tr.join()
            problems += tr.errors
    assert not problems, "\n".join(problems)
