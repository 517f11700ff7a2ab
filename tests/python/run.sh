#!/usr/bin/env bash
# Runs the Python behaviour tests against an already built library
# (OFFTRACK_LIB, default target/release/libofftrack.so). Does not build it.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q -r tests/python/requirements.txt
exec .venv/bin/python -m pytest tests/python -q "$@"
