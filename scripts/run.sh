#!/usr/bin/env bash
# Set up (venv, weights) and start the app: the web page on http://127.0.0.1:8000 (opened in your browser).
# Extra arguments go to `faceapi serve` (e.g. --port 8080, --host 0.0.0.0 --ssl-certfile ... --ssl-keyfile ...).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/faceapi serve --open "$@"
