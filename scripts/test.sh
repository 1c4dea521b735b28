#!/usr/bin/env bash
# Set up (venv, weights, Chromium) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check src tests benchmarks
exec .venv/bin/python -m pytest "$@"
