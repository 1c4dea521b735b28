#!/usr/bin/env bash
# Set up (venv, weights) and start the app: the web page on http://127.0.0.1:8000 (opened in your browser).
# Extra arguments go to `faceapi serve` (e.g. --port 8080, --host 0.0.0.0 --ssl-certfile ... --ssl-keyfile ...).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# The address `faceapi serve` will bind, from the arguments (same defaults as the command).
host=127.0.0.1
port=8000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --host) host="${args[i + 1]:-$host}" ;;
    --host=*) host="${args[i]#--host=}" ;;
    --port) port="${args[i + 1]:-$port}" ;;
    --port=*) port="${args[i]#--port=}" ;;
  esac
done

# Say so plainly when the port is taken, before anything prints a URL that would not be ours.
if ! .venv/bin/python - "$host" "$port" <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
except (socket.gaierror, ValueError) as exc:
    sys.exit(f"faceapi: cannot use --host {host}: {exc}")
family, kind, proto, _, address = infos[0]
with socket.socket(family, kind, proto) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
    try:
        s.bind(address)
    except OSError as exc:
        sys.exit(f"faceapi: port {port} on {host} is not free ({exc.strerror}); is the app already running? "
                 f"Stop it, or pick another port: scripts/run.sh --port {port + 1}")
PY
then
  exit 1
fi
exec .venv/bin/faceapi serve --open "$@"
