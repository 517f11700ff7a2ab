import pytest

import insp  # puts tests/python and tests/reliability on sys.path
from fixtures import collector, lib, storage_dir, tracker_factory  # noqa: F401  (shared fixtures)


@pytest.fixture
def make_tracker(lib, collector):
    """Trackers with the fast base config of the other suites; destroyed at
    teardown, their event recorders checked."""
    yield from tracker_factory(
        lib, lambda endpoint=None, **overrides: insp.rel.config(endpoint or collector.endpoint, **overrides))
