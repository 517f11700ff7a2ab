import pytest

import rel  # also puts tests/python on sys.path, for fixtures
from fixtures import collector, lib, storage_dir, tracker_factory  # noqa: F401  (shared fixtures)


@pytest.fixture
def make_tracker(lib, collector):
    """Trackers with the fast base config; destroyed at teardown, their event
    recorders checked for callback exceptions and event invariants."""
    yield from tracker_factory(
        lib, lambda endpoint=None, **overrides: rel.config(endpoint or collector.endpoint, **overrides))
