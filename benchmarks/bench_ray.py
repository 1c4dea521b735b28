"""Images/s of `faceapi analyze` locally vs on a one-node Ray cluster on loopback (issue 13).

Inputs: the shared photos (``$FACEAPI_SHARED/images``), listed `--passes` times so the steady state
dominates. Chain: SSD + landmarks + expressions + age/gender + descriptors (``--all``), as a bulk run of a
photo archive would ask. Measured, each in a fresh process so nothing is warm:

* local: ``faceapi analyze --workers 1`` and ``--workers 2`` (the process pool of one machine);
* Ray: ``faceapi analyze --ray ADDRESS`` against a cluster started here with ``ray start --head
  --num-cpus=N`` on 127.0.0.1 (token authentication on), 1 CPU (and onnxruntime thread) per actor.

For each: the wall time from the process start to the last record (startup, weights, actors included),
images/s over that, and when the first record arrived (Ray hands records over in blocks, so a rate
between the first and the last record would flatter it).
Usage: ``python benchmarks/bench_ray.py [--passes 3] [--cpus 2]``. Needs ``faceapi[ray]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BIN = Path(sys.executable).parent
SRC = Path(__file__).resolve().parents[1] / "src"

# One driver for every variant: `faceapi analyze` itself, with the record writer stamping the perf_counter
# time of each record (every record goes through it, locally and from Ray); prints the stamps.
DRIVER = """
import json, sys, time
t0 = time.perf_counter()
args = json.loads(sys.argv[1])
from faceapi.batch.writers import RecordWriter
from faceapi.cli.main import main
stamps = []
RecordWriter.write = lambda self, r: stamps.append(time.perf_counter() - t0)
where = ["--ray", args["address"]] if args["mode"] == "ray" else ["--workers", str(args["workers"])]
main(["analyze", *args["inputs"], "--all", "--out", "/dev/null", *where])
print(json.dumps(stamps))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out += [c]
            todo.append(c)
    return out


@contextlib.contextmanager
def loopback_cluster(cpus: int) -> Iterator[tuple[str, dict[str, str]]]:
    """A one-node Ray cluster on 127.0.0.1 with token auth; every process it started is killed by pid."""
    home = Path(tempfile.mkdtemp(prefix="frb"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), RAY_AUTH_MODE="token", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
               RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(SRC))
    subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], env=env, check=True, capture_output=True)
    (home / ".ray" / "auth_token").chmod(0o600)
    env["RAY_AUTH_TOKEN_PATH"] = str(home / ".ray" / "auth_token")
    port = _free_port()
    log = home / "head.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
             f"--num-cpus={cpus}", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={home}/r",
             f"--dashboard-port={_free_port()}"],
            env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while b"Ray runtime started" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the Ray head did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        models = os.environ.get("FACEAPI_MODELS")
        driver_env = dict(env, **({"FACEAPI_MODELS": models} if models else {}))
        if not models:  # the driver keeps the user's model cache although HOME moved
            import faceapi.models

            driver_env["FACEAPI_MODELS"] = str(faceapi.models.model_dir())
        yield f"127.0.0.1:{port}", driver_env
    finally:
        pids = [proc.pid, *_tree(proc.pid)]
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in _tree(proc.pid)):
            time.sleep(0.2)
        for p in [*pids, *_tree(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(home, ignore_errors=True)


def measure(args: dict[str, object], env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds to the last record, seconds to the first, records)."""
    out = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(args)], env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode not in (0, 1):  # 1: some inputs failed (none should here)
        raise SystemExit(out.stderr[-3000:])
    stamps = json.loads(out.stdout.strip().splitlines()[-1])
    return stamps[-1], stamps[0], len(stamps)


def main() -> None:
    shared = Path(os.environ.get("FACEAPI_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3, help="list the photo folder this many times")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the test cluster (and local workers)")
    a = parser.parse_args()
    photos = sorted(p for p in (shared / "images").iterdir() if p.suffix.lower() in (".png", ".jpg"))
    inputs = [str(p) for p in photos] * a.passes
    env = dict(os.environ, PYTHONPATH=str(SRC))
    load = os.getloadavg()[0]
    print(f"{len(inputs)} images ({len(photos)} photos x {a.passes}), --all, SSD; machine: {os.cpu_count()} "
          f"CPUs, load average {load:.1f} at start\n")
    print("| run | wall s (all included) | images/s | first record at s |")
    print("|---|---|---|---|")
    for workers in sorted({1, a.cpus}):
        wall, first, n = measure({"mode": "local", "inputs": inputs, "workers": workers}, env)
        print(f"| local, --workers {workers} | {wall:.1f} | {n / wall:.2f} | {first:.1f} |", flush=True)
    with loopback_cluster(a.cpus) as (address, cluster_env):
        for label in ("first run (cold workers)", "second run"):
            wall, first, n = measure({"mode": "ray", "inputs": inputs, "address": address}, cluster_env)
            print(f"| Ray, 1 node x {a.cpus} CPUs, {label} | {wall:.1f} | {n / wall:.2f} | {first:.1f} |",
                  flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
