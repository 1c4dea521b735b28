"""`faceapi serve --ray` replicas: streams answered per second with 1, 2 and 4 replicas, and the time from an
enrolment on one replica to recognition on a stream of another.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_replicas.py --replicas 1 2 4 --streams 8 --seconds 20

A Ray head on 127.0.0.1 (token auth on, as the tests start it: tests/ray_cluster.py) with as many logical CPUs
as the most replicas asked for, PostgreSQL in a temporary folder (tests/conftest.py's PostgresServer), and
`faceapi serve --ray ... --replicas N --replica-cpus 1 --workers-threads 1 --threads 1` per N. Each of
`--streams` clients sends a frame (shared/images/neutral.jpg, 608x276, SSD + 68 landmarks + descriptor +
recognition) as soon as the previous one is answered, for `--seconds`; answers per second is the figure.
Beside it: the replicas' CPU seconds per answered frame (from /proc, independent of other load), and the
machine's load average, since the figures depend on what else runs.

Latency: with 2 replicas, a stream on each; a new person (the frame's face) is enrolled over REST `--trials`
times (the previous one removed first); the time from the enrolment's answer to the first answer naming the
person on each stream. Which replica took the enrolment is not known, so both streams' times are reported:
the slower one is at least the other replica's. Each includes the answering frame's own inference time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

TOKEN = "bench-replicas-token-0123"
SETTINGS = {"type": "settings", "detector": "ssd", "landmarks": "full", "expressions": False, "recognize": True}


def _frame() -> bytes:
    from helpers import SHARED

    return (SHARED / "images" / "neutral.jpg").read_bytes()


def _cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def _replica_pids(cluster) -> list[int]:
    from ray_cluster import cmdline, descendants

    return [p for p in descendants(cluster.proc.pid) if "ServeReplica:faceapi:" in cmdline(p)]


def _connect(base: str):
    from websockets.sync.client import connect

    ws = connect(f"{base.replace('http', 'ws')}/ws/stream?token={TOKEN}", open_timeout=60,
                 max_size=2**22).__enter__()  # entered by hand: closed by the caller
    hello = json.loads(ws.recv(timeout=60))
    ws.send(json.dumps(SETTINGS))
    assert json.loads(ws.recv(timeout=60)).get("ok")
    return ws, hello["replica"]


def _labels(ws, frame: bytes) -> list[str]:
    ws.send(frame)
    answer = json.loads(ws.recv(timeout=120))
    assert answer["type"] == "result", answer
    return [f["match"]["label"] for f in answer["faces"]]


class _Driver:
    """`faceapi serve --ray` with N replicas, as a user runs it; stopped with SIGINT (it undeploys)."""

    def __init__(self, cluster, replicas: int, gallery: str, port: int, log: Path):
        self.log = log
        with open(log, "w") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "faceapi.cli.main", "serve", "--ray", cluster.address, "--replicas",
                 str(replicas), "--replica-cpus", "1", "--port", str(port), "--gallery", gallery, "--token", TOKEN,
                 "--workers-threads", "1", "--threads", "1"],
                env=cluster.env, stdout=f, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        from ray_cluster import wait_for

        wait_for(lambda: self.proc.poll() is not None or "behind Ray Serve's proxy" in log.read_text(), 600,
                 "the replicas")
        if self.proc.poll() is not None:
            raise SystemExit(log.read_text()[-3000:])

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _throughput(base: str, cluster, streams: int, seconds: float, frame: bytes) -> tuple[int, float, set[str]]:
    """(frames answered in `seconds` by `streams` clients, replicas' CPU seconds meanwhile, replicas seen)."""
    conns = [_connect(base) for _ in range(streams)]
    for ws, _ in conns:  # warm: every connection answered once before the clock starts
        _labels(ws, frame)
    counts = [0] * streams
    stop = time.monotonic() + seconds
    pids = _replica_pids(cluster)
    cpu0 = _cpu_seconds(pids)

    def run(i: int) -> None:
        ws = conns[i][0]
        while time.monotonic() < stop:
            _labels(ws, frame)
            counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 300)
    cpu = _cpu_seconds(pids) - cpu0
    for ws, _ in conns:
        ws.close()
    return sum(counts), cpu, {r for _, r in conns}


def _latency(base: str, trials: int, frame: bytes) -> list[tuple[float, float]]:
    """Per trial: the slower and the faster stream's time (s) from the enrolment's answer to an answer naming
    the new person."""
    import httpx

    a, ra = _connect(base)
    for _ in range(40):
        b, rb = _connect(base)
        if rb != ra:
            break
        b.close()
    else:
        raise SystemExit("no second replica reached in 40 connections")
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as http:
        previous = None
        for i in range(trials):
            if previous is not None:
                assert http.delete(f"/api/people/{previous}").status_code == 200
            for ws in (a, b):  # both replicas have seen the removal: the face is unknown again
                while _labels(ws, frame) != ["unknown"]:
                    pass
            r = http.post("/api/people", params={"name": f"bench {i}"}, content=frame,
                          headers={"content-type": "image/jpeg"})
            assert r.status_code == 201, r.text
            previous = r.json()["id"]
            t0 = time.monotonic()
            times = {}

            def until(ws, key, name=f"bench {i}", t0=t0, times=times) -> None:
                while name not in _labels(ws, frame):
                    pass
                times[key] = time.monotonic() - t0

            threads = [threading.Thread(target=until, args=(ws, k)) for k, ws in (("a", a), ("b", b))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(300)
            out.append((max(times.values()), min(times.values())))
    a.close()
    b.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--trials", type=int, default=10)
    args = ap.parse_args()

    from faceapi.models import model_dir

    from conftest import PostgresServer
    from ray_cluster import free_port, start_cluster

    frame = _frame()
    database = PostgresServer()
    cluster = start_cluster(max(args.replicas), {"FACEAPI_MODELS": str(model_dir()), "PYTHONPATH": str(ROOT / "src")})
    logs = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    try:
        print(f"{os.cpu_count()} cores; {args.streams} streams of {len(frame)} B frames, {args.seconds:.0f} s each")
        for n in args.replicas:
            port = free_port()
            driver = _Driver(cluster, n, database.new_url(), port, logs / f"serve-{n}.log")
            try:
                base = f"http://127.0.0.1:{port}"
                load0 = os.getloadavg()[0]
                frames, cpu, seen = _throughput(base, cluster, args.streams, args.seconds, frame)
                load1 = os.getloadavg()[0]
                rate = frames / args.seconds
                print(f"{n} replica(s) ({len(seen)} seen by the streams): {rate:6.2f} frames/s in all, "
                      f"{rate / n:6.2f} per replica; replicas' CPU {cpu / max(frames, 1) * 1000:6.0f} ms per frame; "
                      f"load average {load0:.1f} -> {load1:.1f}", flush=True)
                if n == 2 and args.trials:
                    lat = _latency(base, args.trials, frame)
                    slow = [s for s, _ in lat]
                    fast = [f for _, f in lat]
                    print(f"enrol -> recognised ({args.trials} trials, 2 replicas): slower stream median "
                          f"{statistics.median(slow) * 1000:.0f} ms (max {max(slow) * 1000:.0f}), faster stream median "
                          f"{statistics.median(fast) * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}", flush=True)
            finally:
                driver.stop()
    finally:
        cluster.stop()
        database.stop()


if __name__ == "__main__":
    main()
