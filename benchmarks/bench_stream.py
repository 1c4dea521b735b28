"""Stream benchmark, tracking off and on: clients push 640x480 JPEG frames of one face over `/ws/stream` on
loopback (tiny detector 416 + full landmarks + expressions), one frame in flight per client, and we report
frames per second, the median / p95 round trip and the median engine time per frame for 1-4 clients, and
landmark jitter, lag, expression and id stability on the synthetic noisy clip, as markdown tables.

    .venv/bin/python benchmarks/bench_stream.py                 # starts `faceapi serve` on a free port
    .venv/bin/python benchmarks/bench_stream.py --url "ws://127.0.0.1:8000/ws/stream?token=TOKEN"
    .venv/bin/python benchmarks/bench_stream.py --clients 1,2,3,4 --seconds 20 --threads 2
    FACEAPI_THREADS=1 .venv/bin/python benchmarks/bench_stream.py --split 300   # CPU split, no server

`--split N` replays N frames of the clip through the server's frame path in this process instead (the
tracker's `update` as `StreamSession.handle_frame` calls it, the result's `to_dict`, `answer_text`'s JSON),
tracking on and off, and prints this thread's CPU per frame for each part, with the engine's stage medians;
with ``FACEAPI_THREADS=1`` the nets run in this thread too, so the thread's CPU is all of it.

The frames are the synthetic clip of `faceapi.tracking.clip.noisy_clip` (happy.jpg, webcam-like noise sigma 6
and JPEG 80 per frame, 30 still frames then 60 panning 3 px a frame), played forwards and backwards, each
sent with the capture time of a 30 fps webcam. The server runs in its own process (as `faceapi serve`
does), so the client's Python does not share its GIL. Round trip = from sending the frame to receiving its
answer, measured by the client; engine time = the server's `timings_ms.total`; server CPU per frame = the
server process's user + system CPU time (Linux /proc) over a row divided by the frames it answered in it
(all threads: decoding, nets, tracking, JSON, the WebSocket; only when this script started the server),
split into decode (the CPU time `faceapi.image.load_image`, the server's frame decoder, takes on the same
frames, measured in this process with `time.thread_time`, best of 3 passes: independent of the load) and
the rest (nets, tracking, JSON, the WebSocket).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from websockets.asyncio.client import connect

from faceapi.image import load_image
from faceapi.tracking.clip import Clip, jitter, lag, noisy_clip

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"type": "settings", "detector": "tiny", "input_size": 416, "min_score": 0.5,
            "landmarks": "full", "expressions": True, "age_gender": False}
FPS = 30


def ping_pong(clip: Clip) -> list[bytes]:
    """The clip forwards then backwards, so that looping it never jumps."""
    return list(clip.frames) + list(clip.frames[-2:0:-1])


async def send(ws, k: int, frame: bytes) -> dict:
    await ws.send(json.dumps({"type": "frame", "id": k + 1, "time": k / FPS}))
    await ws.send(frame)
    reply: dict = json.loads(await ws.recv())
    return reply


async def open_stream(url: str, tracking: bool):
    ws = await connect(url, max_size=None)
    json.loads(await ws.recv())  # hello
    await ws.send(json.dumps({**SETTINGS, "tracking": tracking}))
    ack = json.loads(await ws.recv())
    if ack.get("type") != "settings":
        raise RuntimeError(f"settings refused: {ack}")
    return ws


async def client(url: str, frames: list[bytes], tracking: bool, seconds: float, warmup: int, rtts: list[float],
                 engine: list[dict], detected: list[bool]) -> int:
    ws = await open_stream(url, tracking)
    try:
        k = 0
        for _ in range(warmup):
            await send(ws, k, frames[k % len(frames)])
            k += 1
        done = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            reply = await send(ws, k, frames[k % len(frames)])
            rtts.append((time.perf_counter() - t0) * 1000)
            if reply.get("type") != "result" or len(reply.get("faces", [])) != 1:
                raise RuntimeError(f"unexpected answer: {str(reply)[:200]}")
            engine.append(reply.get("timings_ms", {}))
            detected.append(reply.get("detected", True))
            done += 1
            k += 1
        return done
    finally:
        await ws.close()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds the process has used so far (Linux /proc; NaN without a pid or /proc)."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def decode_cpu_ms(frames: list[bytes], passes: int = 3) -> float:
    """CPU milliseconds per frame `load_image` takes on `frames` (this thread's CPU time, best of `passes`)."""
    best = float("inf")
    for _ in range(passes):
        t0 = time.thread_time()
        for f in frames:
            load_image(f)
        best = min(best, (time.thread_time() - t0) * 1000 / len(frames))
    return best


async def run(url: str, frames: list[bytes], tracking: bool, clients: int, seconds: float, warmup: int,
              server_pid: int | None = None) -> dict:
    rtts: list[float] = []
    engine: list[dict] = []
    detected: list[bool] = []
    # each client measures for `seconds` after its own warm-up; the server's CPU is read around the whole row
    # (warm-up frames included, so it is divided by every frame the server answered in it)
    cpu0 = cpu_seconds(server_pid)
    counts = await asyncio.gather(*(client(url, frames, tracking, seconds, warmup, rtts, engine, detected)
                                    for _ in range(clients)))
    cpu = cpu_seconds(server_pid) - cpu0
    total = sum(counts)
    rtts.sort()
    return {
        "tracking": tracking, "clients": clients, "frames": total, "fps": total / seconds,
        "fps_per_client": total / seconds / clients,
        "median": statistics.median(rtts), "p95": rtts[min(len(rtts) - 1, int(0.95 * len(rtts)))],
        "engine": statistics.median(t.get("total", float("nan")) for t in engine),
        "detected": sum(detected) / len(detected),
        "cpu_ms": cpu * 1000 / (total + warmup * clients),
        "stages": {k: statistics.median(t.get(k, 0.0) for t in engine)
                   for k in ("decode", "detect", "landmarks", "expressions", "tracking", "queue")},
    }


async def quality(url: str, clip: Clip) -> dict:
    """One client plays the clip once with tracking off and once on: jitter, lag, expressions, ids."""
    answers = {}
    for tracking in (False, True):
        ws = await open_stream(url, tracking)
        try:
            answers[tracking] = [await send(ws, k, f) for k, f in enumerate(clip.frames)]
        finally:
            await ws.close()
    out: dict = {}
    still, panning = range(clip.still), clip.panning
    for tracking, rs in answers.items():
        if any(len(r.get("faces", [])) != 1 for r in rs):
            raise RuntimeError("the clip's face was not found on every frame")
        pts = [np.asarray(r["faces"][0]["landmarks"]) for r in rs]
        dominant = Counter(rs[k]["faces"][0]["expressions"]["dominant"] for k in still)
        out[tracking] = {"jitter": jitter([pts[k] for k in still]),
                         "dominant": dominant.most_common(1)[0][1] / len(still),
                         "flips": sum(rs[k]["faces"][0]["expressions"]["dominant"]
                                      != rs[k - 1]["faces"][0]["expressions"]["dominant"]
                                      for k in still[1:]) / (len(still) - 1),
                         "ids": Counter(f.get("track") for r in rs for f in r["faces"])}
    raw = [np.asarray(answers[False][k]["faces"][0]["landmarks"]) for k in panning]
    out[True]["lag"] = lag([np.asarray(answers[True][k]["faces"][0]["landmarks"]) for k in panning], raw)
    out[False]["lag"] = 0.0
    return out


def cpu_split(photo: str, n: int) -> None:
    """`--split`: this thread's CPU per frame (mean over `n` frames after 30 unmeasured) of the frame path's
    parts, in process, tracking on and off (see the module docstring)."""
    from faceapi.models import model_dir
    from faceapi.options import AnalyzeOptions
    from faceapi.pipeline import FaceAnalyzer
    from faceapi.server.routers.stream import answer_text
    from faceapi.tracking.face_tracker import FaceTracker

    frames = ping_pong(noisy_clip(photo))
    options = AnalyzeOptions.from_dict({k: v for k, v in SETTINGS.items() if k != "type"})
    analyzer = FaceAnalyzer(model_dir())
    print(f"CPU per frame (ms, this thread; FACEAPI_THREADS={os.environ.get('FACEAPI_THREADS', '0')}), "
          f"{n} frames:\n")
    print("| tracking | engine (update / analyze) | to_dict | JSON (answer_text) | process CPU | stage medians (ms) |")
    print("|:---|---:|---:|---:|---:|:---|")
    for tracking in (True, False):
        tracker = FaceTracker(analyzer, options)
        parts: dict[str, float] = {"engine": 0.0, "to_dict": 0.0, "json": 0.0, "process": 0.0}
        stages: dict[str, list[float]] = {}
        for k in range(n + 30):
            frame = frames[k % len(frames)]
            p0, t0 = time.process_time(), time.thread_time()
            result = tracker.update(frame, k / FPS) if tracking else analyzer.analyze(frame, options)
            t1 = time.thread_time()
            out = result.to_dict(descriptors=False)
            t2 = time.thread_time()
            answer_text({"type": "result", "frame": k, **out})
            t3, p1 = time.thread_time(), time.process_time()
            if k >= 30:
                for key, v in (("engine", t1 - t0), ("to_dict", t2 - t1), ("json", t3 - t2), ("process", p1 - p0)):
                    parts[key] += v * 1000 / n
                for stage, ms in result.timings_ms.items():
                    stages.setdefault(stage, []).append(ms)
        medians = ", ".join(f"{s} {statistics.median(v):.2f}" for s, v in stages.items())
        print(f"| {'on' if tracking else 'off'} | {parts['engine']:.2f} | {parts['to_dict']:.2f} | {parts['json']:.2f} "
              f"| {parts['process']:.2f} | {medians} |")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average {load:.1f} at the end")


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
    token = secrets.token_urlsafe(16)  # the server's token (issue 10: every request needs one)
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, pass_fds=(sock.fileno(),),
                            env={**os.environ, "FACEAPI_TOKEN": token})
    sock.close()  # the server holds it now
    base = f"http://127.0.0.1:{port}"
    try:
        httpx.get(base + "/api/health", timeout=60)
    except httpx.TransportError:
        proc.kill()
        raise RuntimeError("faceapi serve did not start: " + proc.communicate()[1].decode()) from None
    r = httpx.post(base + "/api/models/load?wait=true", json={"settings": SETTINGS}, timeout=300,
                   headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return proc, f"ws://127.0.0.1:{port}/ws/stream?token={token}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="an already running server's ws://.../ws/stream (default: start one)")
    ap.add_argument("--clients", default="1,2,3,4", help="comma-separated client counts (default 1,2,3,4)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per row (default 10)")
    ap.add_argument("--warmup", type=int, default=5, help="unmeasured frames per client first (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="server inference threads (default 2)")
    ap.add_argument("--models-dir", help="model folder for the started server")
    ap.add_argument("--photo", default=str(ROOT.parent / "shared" / "images" / "happy.jpg"))
    ap.add_argument("--tracking", choices=["off", "on", "both"], default="both",
                    help="rows with tracking off, on, or both (default; also the jitter/lag table)")
    ap.add_argument("--split", type=int, metavar="N",
                    help="instead: the CPU split of N frames through the frame path in this process (no server)")
    args = ap.parse_args()
    if args.split:
        cpu_split(args.photo, args.split)
        return 0
    modes = {"off": (False,), "on": (True,), "both": (False, True)}[args.tracking]

    clip = noisy_clip(args.photo)
    frames = ping_pong(clip)
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.threads, args.models_dir)
    try:
        q = asyncio.run(quality(url, clip)) if args.tracking == "both" else None
        pid = proc.pid if proc is not None else None
        rows = [asyncio.run(run(url, frames, tracking, int(c), args.seconds, args.warmup, pid))
                for c in args.clients.split(",") for tracking in modes]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)

    decode_ms = decode_cpu_ms(frames)
    cpu = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nStream benchmark: 640x480 JPEG ({np.mean([len(f) for f in frames]) / 1000:.0f} kB) of one face "
          f"(synthetic noisy clip), tiny detector 416 + 68 landmarks + expressions, WebSocket on loopback; "
          f"{cpu} CPUs, {platform.processor() or platform.machine()}, server inference threads {args.threads}, "
          f"load average {load:.1f} at the end.\n")
    print("| clients | tracking | frames/s (all) | frames/s per client | median round trip (ms) "
          "| p95 round trip (ms) | median engine time (ms) | server CPU per frame (ms) | of which decode (ms) "
          "| of which the rest (ms) | detector ran |")
    print("|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {'on' if r['tracking'] else 'off'} | {r['fps']:.1f} | {r['fps_per_client']:.1f} "
              f"| {r['median']:.1f} | {r['p95']:.1f} | {r['engine']:.1f} | {r['cpu_ms']:.1f} | {decode_ms:.2f} "
              f"| {r['cpu_ms'] - decode_ms:.1f} | {r['detected']:.0%} |")
    by = {(r["clients"], r["tracking"]): r for r in rows}
    if q is not None:
        print("\n| clients | engine time on/off | server CPU per frame on/off | frames/s on/off |")
        print("|---:|---:|---:|---:|")
        for c in sorted({r["clients"] for r in rows}):
            on, off = by[(c, True)], by[(c, False)]
            print(f"| {c} | {on['engine'] / off['engine']:.2f} | {on['cpu_ms'] / off['cpu_ms']:.2f} "
                  f"| {on['fps'] / off['fps']:.2f} |")
    for r in rows:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
        print(f"\n{r['clients']} client(s), tracking {'on' if r['tracking'] else 'off'}, median ms per stage: {stages}",
              end="")
    if q is None:
        print()
        return 0
    print("\n\nOn the clip played once by one client (30 still frames, then 60 panning 3 px a frame):\n")
    print("| tracking | landmark jitter, still (px/frame) | lag behind raw, panning (px) "
          "| frames with the main dominant expression | dominant changes | frames with the main id |")
    print("|:---|---:|---:|---:|---:|---:|")
    for tracking in (False, True):
        m = q[tracking]
        ids = m["ids"]
        main_id = f"{ids.most_common(1)[0][1] / sum(ids.values()):.0%}" if tracking else "-"
        print(f"| {'on' if tracking else 'off'} | {m['jitter']:.2f} | {m['lag']:.2f} | {m['dominant']:.0%} "
              f"| {m['flips']:.0%} | {main_id} |")
    print(f"\nJitter {q[False]['jitter'] / q[True]['jitter']:.1f}x lower with tracking.")
    print("\nEngine time: the server's `timings_ms.total` (decode + nets + tracking); the rest of the round trip is "
          "the WebSocket, JSON and the hop to the inference pool (and, with several clients, waiting for a thread).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
