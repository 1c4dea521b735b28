#!/usr/bin/env bash
# Set up (venv, weights, Chromium, PostgreSQL, Ray) and run the lint, the type check, the documentation build (strict:
# a broken link or a docstring the API reference cannot read fails it) and the whole test suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy   # strict, configured in pyproject.toml ([tool.mypy]): checks src/faceapi
site_dir=$(mktemp -d)
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site_dir"   # mkdocs.yml, docs/
rm -rf "$site_dir"
exec .venv/bin/python -m pytest "$@"
