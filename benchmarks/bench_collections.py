"""Throughput of `faceapi analyze` on collections: a folder of photos with 1 and 2 worker processes
(images/s), and a video (analysed frames/s), end to end through the CLI (decoding, all requested nets,
JSON lines written to a file; process start-up and model loading included).

The folder is the shared photos (/work/shared/images or $FACEAPI_SHARED/images) copied `--copies` times;
the video is a pan over bbt4.jpg (6 faces, 640x400, `--frames` frames) made with PyAV.
Prints a markdown table. Usage: ``python benchmarks/bench_collections.py [--copies 2] [--frames 60]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from faceapi.batch import IMAGE_SUFFIXES
from faceapi.cli.main import main as cli

SHARED = Path(os.environ.get("FACEAPI_SHARED", Path(__file__).resolve().parents[2] / "shared"))

CONFIGS = {
    "tiny + expressions": ["--detector", "tiny", "--expressions"],
    "ssd + landmarks, expressions, age/gender": ["--landmarks", "full", "--expressions", "--age-gender"],
}


def make_folder(root: Path, copies: int) -> int:
    images = sorted(p for p in (SHARED / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for k in range(copies):
        d = root / f"copy{k}"
        d.mkdir(parents=True)
        for p in images:
            shutil.copy(p, d / p.name)
    return len(images) * copies


def make_video(path: Path, frames: int) -> None:
    import av

    image = np.asarray(Image.open(SHARED / "images" / "bbt4.jpg").convert("RGB"))
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 640, 400, "yuv420p"
        for i in range(frames):
            x, y = (i * 2) % 60, i % 60
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[y : y + 400, x : x + 640]), "rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def run(args: list[str], out: Path) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        rc = cli([*map(str, args), "--out", str(out), "--no-progress"])
    seconds = time.perf_counter() - t0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    if rc != 0:
        raise SystemExit(f"faceapi analyze failed (rc {rc}): {args}")
    return seconds, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="copies of the shared photos in the folder")
    parser.add_argument("--frames", type=int, default=60, help="frames of the test video")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=None,
                        help="onnxruntime threads per process (default: faceapi's: all cores, shared out by workers)")
    a = parser.parse_args()
    threads = ["--threads", str(a.threads)] if a.threads else []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = make_folder(tmp / "photos", a.copies)
        video = tmp / "pan.mp4"
        make_video(video, a.frames)
        for label, opts in CONFIGS.items():
            cli(["analyze", str(SHARED / "images" / "bbt4.jpg"), *opts, "--out", os.devnull])  # build graphs
            for w in a.workers:
                seconds, records = run(["analyze", tmp / "photos", *opts, *threads, "--workers", str(w)],
                                       tmp / "o.jsonl")
                faces = sum(len(r.get("faces", [])) for r in records)
                rows.append((f"folder, {n} photos", label, f"{w} worker(s)", f"{n / seconds:.1f} images/s",
                             f"{seconds:.1f} s, {faces} faces"))
            for extra, name in (([], "video"), (["--annotate", str(tmp / "ann")], "video + annotated copy")):
                seconds, records = run(["analyze", video, *opts, *threads, *extra], tmp / "o.jsonl")
                faces = sum(len(r.get("faces", [])) for r in records)
                rows.append((f"{name}, {a.frames} frames 640x400", label, "1 process",
                             f"{len(records) / seconds:.1f} frames/s", f"{seconds:.1f} s, {faces} faces"))
    print(f"cores: {os.cpu_count()}, load average at the end: {os.getloadavg()[0]:.1f}\n")
    print("| input | nets | processes | throughput | wall time |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
