#!/usr/bin/env bash
# Set up (venv, weights) and start the app: the web page opens in your browser at the address with the
# server's token (http://127.0.0.1:8000/?token=...; the token becomes a session cookie and leaves the address
# bar). Without a display the address is printed: open it yourself. Extra arguments go to `faceapi serve`
# (e.g. --port 8080; --lan to use the page from a phone on the same network, over HTTPS with a QR code).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/faceapi serve --open "$@"
