#!/usr/bin/env bash
# The QA tool's suite: stores made through the library (ctypes) and read by
# target/release/offtrack-inspect, which must leave them byte for byte as
# they were. Uses what the Makefile built (`make build inspect`); never builds.
#
#   bash tests/inspect/run.sh            # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
for built in "${OFFTRACK_LIB:-target/release/libofftrack.so}" "${OFFTRACK_INSPECT:-target/release/offtrack-inspect}"; do
    if [[ ! -f $built ]]; then
        echo "tests/inspect: missing $built -- run make build inspect first" >&2
        exit 2
    fi
done
if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q -r tests/python/requirements.txt
exec .venv/bin/python -m pytest -c tests/inspect/pytest.ini tests/inspect -q "$@"
