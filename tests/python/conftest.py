import os

import pytest

from fixtures import collector, lib, storage_dir, tracker_factory  # noqa: F401  (shared fixtures)

# Fast timings so failures, retries and shutdowns happen within a test's budget.
BASE_CONFIG = {
    "request_timeout_seconds": 1,
    "retry_base_ms": 50,
    "retry_max_ms": 200,
    "shutdown_timeout_ms": 500,
}


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
    yield from tracker_factory(lib, lambda **overrides: _config(collector, overrides))
