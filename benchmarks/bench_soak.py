"""Soak benchmark (issue 10): `faceapi serve` under long and hostile load, on loopback only, every loop bounded.

    .venv/bin/python benchmarks/bench_soak.py                  # all phases, 10,000 frames
    .venv/bin/python benchmarks/bench_soak.py --frames 2000    # a shorter soak

Phases, each against the same server process (started here on a 127.0.0.1 socket inherited through --fd,
with a token, tiny detector + 68 landmarks + expressions, 2 inference threads):

1. soak: one client streams `--frames` frames; the server's RSS (/proc/PID/status, Linux) is sampled every
   `--sample-every` frames. Target: growth < 40 MB from the sample after warm-up to the last.
2. concurrency: 16 clients stream `--per-client` frames each at once. Target: every frame answered; p95.
3. silent client: a client floods frames and never reads its answers (its socket is never read); another
   client's median latency is compared with its latency alone. Target: < 3x.
4. abrupt disconnects: 300 connections send a frame and reset the TCP connection before the answer. Target:
   the server's client count returns to 0 and a new client is served.
5. half-open HTTP: 200 connections send half a request head and stay open; a health request and a frame are
   timed meanwhile. Target: served promptly (< 1 s); the server closes the half-open ones after its head
   deadline (10 s).

Prints a markdown table and the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from PIL import Image
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"type": "settings", "detector": "tiny", "input_size": 224, "min_score": 0.5,
            "landmarks": "full", "expressions": True, "age_gender": False}


def make_frames(photo: Path, n: int = 8) -> list[bytes]:
    """640x480 JPEGs of the photo (one face), each slightly shifted so that no two are identical."""
    im = Image.open(photo).convert("RGB")
    im = im.resize((640, round(im.height * 640 / im.width)), Image.BICUBIC)
    out = []
    for k in range(n):
        frame = Image.new("RGB", (640, 480), (24, 28, 34))
        frame.paste(im, (k - n // 2, (480 - im.height) // 2 + k % 3))
        buf = io.BytesIO()
        frame.save(buf, format="JPEG", quality=80)
        out.append(buf.getvalue())
    return out


class Server:
    """`faceapi serve` in a subprocess on a pre-bound loopback socket, with a token."""

    def __init__(self, threads: int, models_dir: str | None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(512)
        self.port = sock.getsockname()[1]
        self.token = secrets.token_urlsafe(16)
        cmd = [sys.executable, "-m", "faceapi.cli.main", "serve", "--fd", str(sock.fileno()), "--log-level",
               "warning", "--workers-threads", str(threads), "--no-gallery"]
        if models_dir:
            cmd += ["--models-dir", models_dir]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, pass_fds=(sock.fileno(),),
                                     env={**os.environ, "FACEAPI_TOKEN": self.token})
        sock.close()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/ws/stream?token={self.token}"
        self.http = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=300)
        self.http.get("/api/health")  # waits in the backlog until the server is up
        self.http.post("/api/models/load?wait=true", json={"settings": SETTINGS}).raise_for_status()

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def clients(self) -> int:
        return int(self.http.get("/api/health").json()["clients"])

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(15)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def stream(url: str, frames: list[bytes], n: int, latencies: list[float] | None = None,
                 stop: asyncio.Event | None = None) -> int:
    """One client: settings, then up to `n` frames one at a time; returns how many were answered."""
    answered = 0
    async with connect(url, max_size=None) as ws:
        json.loads(await ws.recv())
        await ws.send(json.dumps(SETTINGS))
        json.loads(await ws.recv())
        for k in range(n):
            if stop is not None and stop.is_set():
                break
            t0 = time.perf_counter()
            await ws.send(frames[k % len(frames)])
            reply = json.loads(await ws.recv())
            if reply.get("type") != "result":
                raise RuntimeError(f"unexpected answer: {str(reply)[:200]}")
            if latencies is not None:
                latencies.append((time.perf_counter() - t0) * 1000)
            answered += 1
    return answered


def ws_frame(payload: bytes, opcode: int = 2) -> bytes:
    """A masked client WebSocket frame (RFC 6455), written by hand for the raw-socket clients."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask_fast(payload, mask)
    return head + mask + masked


def _mask_fast(payload: bytes, mask: bytes) -> bytes:
    import numpy as np

    data = np.frombuffer(payload, dtype=np.uint8)
    key = np.resize(np.frombuffer(mask, dtype=np.uint8), data.size)
    return (data ^ key).tobytes()


def raw_ws(port: int, token: str) -> socket.socket:
    """A WebSocket opened on a raw socket (handshake read; afterwards the caller decides what to read)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws/stream?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise RuntimeError("handshake refused")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode(errors="replace"))
    return s


# -- phases -----------------------------------------------------------------------------------------------
def soak(srv: Server, frames: list[bytes], total: int, every: int) -> dict:
    samples: list[tuple[int, float]] = [(0, srv.rss_mb())]
    done = 0
    t0 = time.perf_counter()

    async def run() -> None:
        nonlocal done
        async with connect(srv.ws, max_size=None) as ws:
            json.loads(await ws.recv())
            await ws.send(json.dumps(SETTINGS))
            json.loads(await ws.recv())
            for k in range(total):
                await ws.send(frames[k % len(frames)])
                reply = json.loads(await ws.recv())
                if reply.get("type") != "result":
                    raise RuntimeError(str(reply)[:200])
                done += 1
                if done % every == 0:
                    samples.append((done, srv.rss_mb()))
                    print(f"  soak: {done} frames, RSS {samples[-1][1]:.1f} MB", file=sys.stderr, flush=True)

    asyncio.run(run())
    seconds = time.perf_counter() - t0
    warm = samples[1][1] if len(samples) > 1 else samples[0][1]
    return {"frames": done, "seconds": round(seconds, 1), "fps": round(done / seconds, 1),
            "rss_start_mb": round(samples[0][1], 1), "rss_after_warmup_mb": round(warm, 1),
            "rss_end_mb": round(samples[-1][1], 1), "rss_max_mb": round(max(v for _, v in samples), 1),
            "rss_growth_mb": round(samples[-1][1] - warm, 1),
            "rss_samples": [(n, round(v, 1)) for n, v in samples]}


def concurrency(srv: Server, frames: list[bytes], clients: int, per_client: int) -> dict:
    latencies: list[float] = []

    async def run() -> list[int]:
        return await asyncio.gather(*(stream(srv.ws, frames, per_client, latencies) for _ in range(clients)))

    t0 = time.perf_counter()
    counts = asyncio.run(run())
    return {"clients": clients, "frames_sent": clients * per_client, "frames_answered": sum(counts),
            "all_answered": all(c == per_client for c in counts), "seconds": round(time.perf_counter() - t0, 1),
            "median_ms": round(statistics.median(latencies), 1), "p95_ms": round(pct(latencies, 0.95), 1)}


def silent_client(srv: Server, frames: list[bytes], n: int, max_flood: int) -> dict:
    alone: list[float] = []
    asyncio.run(stream(srv.ws, frames, n, alone))
    flood = raw_ws(srv.port, srv.token)
    flood.sendall(ws_frame(json.dumps(SETTINGS).encode(), opcode=1))
    sent = 0
    stop = threading.Event()

    def flooder() -> None:  # sends frames and never reads: the server's writes to it back up
        nonlocal sent
        flood.settimeout(None)  # blocks when the server stops reading (back-pressure); shutdown() ends it
        while not stop.is_set() and sent < max_flood:
            try:
                flood.sendall(ws_frame(frames[sent % len(frames)]))
            except OSError:
                return
            sent += 1

    thread = threading.Thread(target=flooder, daemon=True)
    thread.start()
    time.sleep(1.0)  # let the flood start (its first frames compete for the inference threads)
    beside: list[float] = []
    asyncio.run(stream(srv.ws, frames, n, beside))
    stop.set()
    flood.shutdown(socket.SHUT_RDWR)
    thread.join(10)
    flood.close()
    ratio = statistics.median(beside) / statistics.median(alone)
    return {"frames": n, "alone_median_ms": round(statistics.median(alone), 1),
            "beside_silent_median_ms": round(statistics.median(beside), 1), "slowdown": round(ratio, 2),
            "silent_frames_sent": sent}


def abrupt_disconnects(srv: Server, frames: list[bytes], count: int) -> dict:
    rss0 = srv.rss_mb()
    for _ in range(count):
        s = raw_ws(srv.port, srv.token)
        s.sendall(ws_frame(json.dumps(SETTINGS).encode(), opcode=1) + ws_frame(frames[0]))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = TCP reset
        s.close()
    deadline = time.monotonic() + 60
    while srv.clients() != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    left = srv.clients()
    ok = asyncio.run(stream(srv.ws, frames, 5))
    return {"disconnects": count, "clients_left": left, "next_client_answered": ok == 5,
            "rss_before_mb": round(rss0, 1), "rss_after_mb": round(srv.rss_mb(), 1)}


def half_open(srv: Server, frames: list[bytes], count: int) -> dict:
    conns = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
        conns.append(s)
    time.sleep(0.5)
    t0 = time.perf_counter()
    status = srv.http.get("/api/health").status_code
    health_ms = (time.perf_counter() - t0) * 1000
    frame_ms: list[float] = []
    asyncio.run(stream(srv.ws, frames, 3, frame_ms))
    closed = 0
    deadline = time.monotonic() + 30  # the server's head deadline is 10 s
    for s in conns:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            if s.recv(1024) == b"":
                closed += 1
        except OSError:
            pass
        s.close()
    return {"half_open": count, "health_status": status, "health_ms": round(health_ms, 1),
            "frame_median_ms": round(statistics.median(frame_ms), 1), "closed_by_server": closed}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=10_000, help="frames of the soak (default 10000)")
    ap.add_argument("--sample-every", type=int, default=500, help="RSS sample interval in frames (default 500)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    ap.add_argument("--per-client", type=int, default=20, help="frames per concurrent client (default 20)")
    ap.add_argument("--silent-frames", type=int, default=30, help="frames measured beside the silent client")
    ap.add_argument("--disconnects", type=int, default=300)
    ap.add_argument("--half-open", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2, help="server inference threads (default 2)")
    ap.add_argument("--models-dir", help="model folder for the started server")
    ap.add_argument("--photo", default=str(ROOT.parent / "shared" / "images" / "happy.jpg"))
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        print("bench_soak reads the server's RSS from /proc: Linux only", file=sys.stderr)
        return 2

    frames = make_frames(Path(args.photo))
    srv = Server(args.threads, args.models_dir)
    try:
        out = {}
        for name, phase in (
                ("concurrency", lambda: concurrency(srv, frames, args.clients, args.per_client)),
                ("silent_client", lambda: silent_client(srv, frames, args.silent_frames, 2000)),
                ("abrupt_disconnects", lambda: abrupt_disconnects(srv, frames, args.disconnects)),
                ("half_open", lambda: half_open(srv, frames, args.half_open)),
                ("soak", lambda: soak(srv, frames, args.frames, args.sample_every))):
            print(f"{name} ...", file=sys.stderr, flush=True)
            out[name] = phase()
            print(f"  {json.dumps({k: v for k, v in out[name].items() if k != 'rss_samples'})}", file=sys.stderr)
    finally:
        srv.stop()

    s, c, q, d, h = (out[k] for k in ("soak", "concurrency", "silent_client", "abrupt_disconnects", "half_open"))
    print(f"\nSoak benchmark: 640x480 JPEG frames of one face, tiny detector {SETTINGS['input_size']} + 68 landmarks "
          f"+ expressions, WebSocket on loopback; {os.cpu_count()} CPUs, {platform.machine()}, server inference "
          f"threads {args.threads}.\n")
    print("| check | figure | target |")
    print("|---|---|---|")
    print(f"| {s['frames']} frames streamed ({s['fps']} frames/s) | RSS {s['rss_after_warmup_mb']} MB after "
          f"{args.sample_every} frames -> {s['rss_end_mb']} MB at the end (growth {s['rss_growth_mb']} MB, max "
          f"{s['rss_max_mb']} MB) | growth < 40 MB |")
    print(f"| {c['clients']} concurrent clients x {c['frames_sent'] // c['clients']} frames | "
          f"{c['frames_answered']}/{c['frames_sent']} answered; median {c['median_ms']} ms, p95 {c['p95_ms']} ms | "
          f"all answered |")
    print(f"| a client that sends and never reads | another client's median {q['alone_median_ms']} ms alone, "
          f"{q['beside_silent_median_ms']} ms beside it ({q['slowdown']}x) | < 3x |")
    print(f"| {d['disconnects']} abrupt disconnects (TCP reset mid-frame) | clients left {d['clients_left']}; next "
          f"client served: {d['next_client_answered']}; RSS {d['rss_before_mb']} -> {d['rss_after_mb']} MB | "
          f"cleaned up |")
    print(f"| {h['half_open']} half-open HTTP connections | health answered in {h['health_ms']} ms "
          f"({h['health_status']}), a frame in {h['frame_median_ms']} ms; {h['closed_by_server']} closed by the "
          f"server's head deadline | prompt (< 1 s) |")
    print("\n" + json.dumps(out))
    ok = (s["rss_growth_mb"] < 40 and c["all_answered"] and q["slowdown"] < 3 and d["clients_left"] == 0
          and d["next_client_answered"] and h["health_status"] == 200 and h["health_ms"] < 1000)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
