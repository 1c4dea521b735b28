"""Stream benchmark: clients push 640x480 JPEG frames of one face over `/ws/stream` on loopback
(tiny detector 416 + full landmarks + expressions), one frame in flight per client, and we report
frames per second and the median / p95 round-trip latency, for 1 and 4 clients, as a markdown table.

    .venv/bin/python benchmarks/bench_stream.py                 # starts `faceapi serve` on a free port
    .venv/bin/python benchmarks/bench_stream.py --url ws://127.0.0.1:8000/ws/stream
    .venv/bin/python benchmarks/bench_stream.py --clients 1,2,4,8 --seconds 20 --threads 2

The server runs in its own process (as `faceapi serve` does), so the client's Python does not share
its GIL. Round trip = from sending the frame to receiving its answer, measured by the client.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"type": "settings", "detector": "tiny", "input_size": 416, "min_score": 0.5,
            "landmarks": "full", "expressions": True, "age_gender": False}


def make_frames(photo: Path, n: int = 8) -> list[bytes]:
    """640x480 JPEGs of the photo (one face), each slightly shifted so that no two are identical."""
    im = Image.open(photo).convert("RGB")
    im = im.resize((640, round(im.height * 640 / im.width)), Image.BICUBIC)
    frames = []
    for k in range(n):
        frame = Image.new("RGB", (640, 480), (24, 28, 34))
        frame.paste(im, (k - n // 2, (480 - im.height) // 2 + k % 3))
        buf = io.BytesIO()
        frame.save(buf, format="JPEG", quality=80)
        frames.append(buf.getvalue())
    return frames


async def client(url: str, frames: list[bytes], seconds: float, warmup: int, rtts: list[float],
                 engine: list[dict]) -> int:
    async with connect(url, max_size=None) as ws:
        json.loads(await ws.recv())  # hello
        await ws.send(json.dumps(SETTINGS))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "settings":
            raise RuntimeError(f"settings refused: {ack}")
        for k in range(warmup):
            await ws.send(frames[k % len(frames)])
            await ws.recv()
        done, k = 0, 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            await ws.send(frames[k % len(frames)])
            reply = json.loads(await ws.recv())
            rtts.append((time.perf_counter() - t0) * 1000)
            engine.append(reply.get("timings_ms", {}))
            if reply.get("type") != "result" or len(reply.get("faces", [])) != 1:
                raise RuntimeError(f"unexpected answer: {str(reply)[:200]}")
            done += 1
            k += 1
        return done


async def run(url: str, frames: list[bytes], clients: int, seconds: float, warmup: int) -> dict:
    rtts: list[float] = []
    engine: list[dict] = []
    # each client measures for `seconds` after its own warm-up
    counts = await asyncio.gather(*(client(url, frames, seconds, warmup, rtts, engine) for _ in range(clients)))
    total = sum(counts)
    rtts.sort()
    return {
        "clients": clients, "frames": total, "fps": total / seconds, "fps_per_client": total / seconds / clients,
        "median": statistics.median(rtts), "p95": rtts[min(len(rtts) - 1, int(0.95 * len(rtts)))],
        "engine": statistics.median(t.get("total", float("nan")) for t in engine),
        "stages": {k: statistics.median(t.get(k, 0.0) for t in engine)
                   for k in ("decode", "detect", "landmarks", "expressions", "queue")},
    }


def start_server(threads: int, models_dir: str | None) -> tuple[subprocess.Popen, str]:
    """`faceapi serve` on a 127.0.0.1 socket bound and listening here, inherited through --fd (no port is
    released and re-bound in between; requests wait in its backlog until the server is up)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "faceapi.cli.main", "serve", "--fd", str(sock.fileno()), "--log-level", "warning",
           "--workers-threads", str(threads)]
    if models_dir:
        cmd += ["--models-dir", models_dir]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, pass_fds=(sock.fileno(),))
    sock.close()  # the server holds it now
    base = f"http://127.0.0.1:{port}"
    try:
        httpx.get(base + "/api/health", timeout=60)
    except httpx.TransportError:
        proc.kill()
        raise RuntimeError("faceapi serve did not start: " + proc.communicate()[1].decode()) from None
    r = httpx.post(base + "/api/models/load?wait=true", json={"settings": SETTINGS}, timeout=300)
    r.raise_for_status()
    return proc, f"ws://127.0.0.1:{port}/ws/stream"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="an already running server's ws://.../ws/stream (default: start one)")
    ap.add_argument("--clients", default="1,4", help="comma-separated client counts (default 1,4)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per row (default 10)")
    ap.add_argument("--warmup", type=int, default=5, help="unmeasured frames per client first (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="server inference threads (default 2)")
    ap.add_argument("--models-dir", help="model folder for the started server")
    ap.add_argument("--photo", default=str(ROOT.parent / "shared" / "images" / "happy.jpg"))
    args = ap.parse_args()

    frames = make_frames(Path(args.photo))
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.threads, args.models_dir)
    try:
        rows = [asyncio.run(run(url, frames, int(c), args.seconds, args.warmup)) for c in args.clients.split(",")]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)

    cpu = os.cpu_count()
    print(f"\nStream benchmark: 640x480 JPEG ({np.mean([len(f) for f in frames]) / 1000:.0f} kB) of one face, "
          f"tiny detector 416 + 68 landmarks + expressions, WebSocket on loopback; "
          f"{cpu} CPUs, {platform.processor() or platform.machine()}, server inference threads {args.threads}.\n")
    print("| clients | frames/s (all) | frames/s per client | median round trip (ms) | p95 round trip (ms) "
          "| median engine time (ms) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['fps']:.1f} | {r['fps_per_client']:.1f} | {r['median']:.1f} | {r['p95']:.1f} "
              f"| {r['engine']:.1f} |")
    for r in rows:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
        print(f"\n{r['clients']} client(s), median ms per stage: {stages}", end="")
    print()
    print("\nEngine time: the server's `timings_ms.total` (decode + nets); the rest of the round trip is the "
          "WebSocket, JSON and the hop to the inference pool (and, with several clients, waiting for a thread).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
