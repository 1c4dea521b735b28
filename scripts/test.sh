#!/usr/bin/env bash
# Set up (venv, weights, Chromium, Ray) and run the lint, the type check and the whole test suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy   # strict, configured in pyproject.toml ([tool.mypy]): checks src/faceapi
exec .venv/bin/python -m pytest "$@"
