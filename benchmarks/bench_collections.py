"""Throughput of `faceapi analyze` on collections: a folder of photos (images/s) with 1 or more worker
processes, and a video (analysed frames/s), end to end through the CLI in a fresh process each time
(interpreter start-up, model loading, decoding, all requested nets, JSON lines written to a file).

The folder is the shared photos (/work/shared/images or $FACEAPI_SHARED/images) copied `--copies` times;
the video is a pan over bbt4.jpg (6 faces, 640x400, `--frames` frames) made with PyAV.

Before/after: ``--baseline-src DIR`` runs every folder measurement with that source tree too (e.g. an
older commit unpacked with ``git archive COMMIT src | tar -x -C DIR``), alternating before and after
`--repeats` times so that both see the same load; the table gives each one's median.

``--batching`` also times each face net on the crops of bbt4.jpg at batch 1, 4, 8 and 24 (ms per crop):
whether collecting the crops of several images into one batch per net would pay.

Prints a markdown table. Usage::

    python benchmarks/bench_collections.py [--copies 4] [--frames 60] [--workers 1 2] [--threads N]
        [--repeats 3] [--baseline-src DIR] [--batching]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_common import POOLS
from PIL import Image

from faceapi.batch import IMAGE_SUFFIXES

SHARED = Path(os.environ.get("FACEAPI_SHARED", Path(__file__).resolve().parents[2] / "shared"))
SRC = Path(__file__).resolve().parents[1] / "src"

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


def run(src: Path, args: list[str | Path], out: Path, env_extra: dict[str, str] | None = None
        ) -> tuple[float, list[dict]]:
    """`faceapi ARGS` in a fresh interpreter with `src` first on the path: (wall seconds, records)."""
    env = dict(os.environ, PYTHONPATH=str(src), **(env_extra or {}))
    cmd = [sys.executable, "-m", "faceapi.cli.main", *map(str, args), "--out", str(out), "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"faceapi analyze failed (rc {proc.returncode}): {cmd}\n{proc.stderr[-2000:]}")
    return seconds, [json.loads(line) for line in out.read_text().splitlines()]


def _strip(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "timings_ms"} for r in records]


def batching_rows() -> list[tuple[str, ...]]:
    """Each face net on the crops of bbt4.jpg (6 faces, repeated to 24) at several batch sizes."""
    from faceapi.image import load_image
    from faceapi.options import AnalyzeOptions
    from faceapi.pipeline import FaceAnalyzer

    analyzer = FaceAnalyzer()
    image = load_image(SHARED / "images" / "bbt4.jpg")
    result = analyzer.analyze(image, AnalyzeOptions.from_dict({"landmarks": "full"}))
    crops = []
    for f in result.faces:
        b = f.detection.box
        crops.append(image[int(b.y) : int(b.y + b.height), int(b.x) : int(b.x + b.width)])
    crops = (crops * 4)[:24]
    nets = {"expressions": analyzer.expression_net(), "age/gender": analyzer.age_gender_net(),
            "68 landmarks": analyzer.landmark_net("full"), "descriptor": analyzer.recognition_net()}
    rows = []
    for name, net in nets.items():
        net.predict(crops[:8])
        cells = []
        for bs in (1, 4, 8, 24):
            best = min(_timed(net.predict, [crops[i : i + bs] for i in range(0, 24, bs)]) for _ in range(5))
            cells.append(f"{best / 24 * 1000:.2f}")
        rows.append((name, *cells))
    return rows


def _timed(predict: Callable[[list[np.ndarray]], object], batches: list[list[np.ndarray]]) -> float:
    t0 = time.perf_counter()
    for batch in batches:
        predict(batch)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of the shared photos in the folder")
    parser.add_argument("--frames", type=int, default=60, help="frames of the test video (0: no video)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=None,
                        help="onnxruntime threads per process (default: faceapi's: all cores, shared out by workers)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each folder measurement (median)")
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="a source tree to measure as 'before', interleaved with this one")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--batching", action="store_true", help="also time the face nets at batch 1..24")
    parser.add_argument("--pools", nargs="+", choices=list(POOLS), default=None,
                        help="compare thread-pool modes (bench_common.POOLS), interleaved, instead of trees")
    a = parser.parse_args()
    threads = ["--threads", str(a.threads)] if a.threads else []
    trees = {"after": SRC} if a.baseline_src is None else {"before": a.baseline_src, "after": SRC}
    envs: dict[str, dict[str, str]] = {k: {} for k in trees}
    if a.pools:
        if a.baseline_src is not None:
            parser.error("--pools compares pool modes of this tree; drop --baseline-src")
        trees = {POOLS[p][0]: SRC for p in a.pools}
        envs = {POOLS[p][0]: POOLS[p][1] for p in a.pools}
    rows = []
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        n = make_folder(tmp / "photos", a.copies)
        for label in a.configs:
            opts = CONFIGS[label]
            for w in a.workers:
                times: dict[str, list[float]] = {k: [] for k in trees}
                outputs: dict[str, list[dict]] = {}
                for _ in range(a.repeats):
                    for version, src in trees.items():  # interleaved: before, after, before, after, ...
                        seconds, records = run(src, ["analyze", tmp / "photos", *opts, *threads, "--workers", w],
                                               tmp / "o.jsonl", envs[version])
                        times[version].append(seconds)
                        outputs[version] = records
                    load.append(os.getloadavg()[0])
                if "before" in outputs and _strip(outputs["before"]) != _strip(outputs["after"]):
                    raise SystemExit(f"{label}, {w} worker(s): before and after give different records")
                faces = sum(len(r.get("faces", [])) for r in outputs[list(trees)[-1]])
                for version, ts in times.items():
                    med = statistics.median(ts)
                    rows.append((f"folder, {n} photos", label, f"{w} worker(s)", version, f"{n / med:.1f} images/s",
                                 f"{med:.1f} s (runs: {', '.join(f'{t:.1f}' for t in ts)}), {faces} faces"))
            if a.frames > 0:
                video = tmp / "pan.mp4"
                if not video.exists():
                    make_video(video, a.frames)
                for extra, name in (([], "video"), (["--annotate", str(tmp / "ann")], "video + annotated copy")):
                    seconds, records = run(SRC, ["analyze", video, *opts, *threads, *extra], tmp / "o.jsonl")
                    faces = sum(len(r.get("faces", [])) for r in records)
                    rows.append((f"{name}, {a.frames} frames 640x400", label, "1 process", "after",
                                 f"{len(records) / seconds:.1f} frames/s", f"{seconds:.1f} s, {faces} faces"))
    print(f"cores: {os.cpu_count()}, load average (1 min) during the runs: {min(load):.1f} to {max(load):.1f}\n")
    print("| input | nets | processes | version | throughput | wall time (median) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if a.batching:
        print("\nFace nets on bbt4.jpg's crops, ms per crop (best of 5), by batch size:\n")
        print("| net | batch 1 | batch 4 | batch 8 | batch 24 |")
        print("|---|---|---|---|---|")
        for r in batching_rows():
            print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
