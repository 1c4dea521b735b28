#!/usr/bin/env bash
# Set up everything faceapi needs on a fresh machine; safe to run again (it skips what is done).
#   scripts/setup.sh          Python venv (.venv) with faceapi and its server extras, model weights
#   scripts/setup.sh --dev    also the test tools and Debian's Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv" >&2
  "$python" -m venv .venv
fi
# Install (again) only when pyproject.toml changed since the last install of this flavour.
stamp=.venv/.installed-$([ "$dev" = 1 ] && echo dev || echo app)
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ "$dev" = 1 ]; then
    .venv/bin/python -m pip install -q -e '.[dev]'
  else
    .venv/bin/python -m pip install -q -e '.[server,video]'
  fi
  touch "$stamp"
fi

# Model weights: `npm pack @vladmandic/face-api@1.7.15`, verified against pinned SHA-256 sums.
.venv/bin/faceapi models download

if [ "$dev" = 1 ] && { [ ! -x /usr/bin/chromium ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; then
  echo "== installing Debian's chromium (browser tests) and postgresql (the PostgreSQL gallery tests)" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver postgresql
  else
    sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver postgresql
  fi
fi

echo "== ready: run the command as .venv/bin/faceapi (or first: source .venv/bin/activate, then faceapi)" >&2
