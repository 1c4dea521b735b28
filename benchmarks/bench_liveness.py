"""Cost of liveness per face: upstream's two crops + resizes, and the two MiniFASNet nets at batch 1, on a
nuaa-dev photo's SSD box; then what the live view pays per frame (the tracker measures a face on detector
frames and every `faceapi.tracking.liveness.PERIOD_S`, not on every frame).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_liveness.py [--runs 300] [--threads 1] [--frames 90]

The machine is shared, so wall-clock times say more about the other engineers than about this code: each
row gives the **CPU time of this thread per run** (``time.thread_time``, best and median of `--rounds`
rounds of `--runs` runs: the best is the closest to an unloaded machine), next to the wall-clock median and
the load average (``os.getloadavg``) before and after. With ``--threads 1`` every op runs on this thread,
so the thread's CPU time is all the work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from faceapi.engine.runtime import RuntimeConfig
from faceapi.image import load_image
from faceapi.liveness import liveness_scores
from faceapi.nets import minifasnet
from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer
from faceapi.tracking.face_tracker import FaceTracker

IMAGE = Path(__file__).resolve().parents[2] / "shared/eval/liveness/nuaa-dev/real/0003_0003_01_00_01_0.jpg"


def timed(fn: Callable[[], object], runs: int, rounds: int) -> tuple[float, float, float]:
    """(best CPU ms per run, median CPU ms per run, median wall ms per run) over `rounds` rounds."""
    for _ in range(10):
        fn()
    cpu, wall = [], []
    for _ in range(rounds):
        c, w = time.thread_time(), time.perf_counter()
        for _ in range(runs):
            fn()
        cpu.append((time.thread_time() - c) / runs * 1e3)
        wall.append((time.perf_counter() - w) / runs * 1e3)
    return min(cpu), statistics.median(cpu), statistics.median(wall)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frames", type=int, default=90, help="frames of the tracked clip (30 a second)")
    args = ap.parse_args()
    load_before = os.getloadavg()
    analyzer = FaceAnalyzer(runtime=RuntimeConfig(threads=args.threads))
    image = load_image(str(IMAGE))
    box = analyzer.analyze(image).faces[0].detection.box
    nets = [analyzer.net(s.name) for s in minifasnet.SPECS]
    assert all(isinstance(n, minifasnet.MiniFASNet) for n in nets)
    batches = [n.preprocess_faces(image, [box]) for n in nets]  # type: ignore[attr-defined]
    rows: dict[str, Callable[[], object]] = {
        "crops + resizes (both)": lambda: [n.preprocess_faces(image, [box]) for n in nets],  # type: ignore[attr-defined]
        "MiniFASNetV2 forward": lambda: nets[0].forward(batches[0]),
        "MiniFASNetV1SE forward": lambda: nets[1].forward(batches[1]),
        "both nets forward": lambda: [n.forward(b) for n, b in zip(nets, batches)],
        "liveness per face (all)": lambda: liveness_scores(analyzer, image, [box]),
    }
    print(f"threads={args.threads} runs={args.runs}x{args.rounds}  graph version {minifasnet.GRAPH_VERSION}")
    print(f"{'':28s} {'CPU best':>9s} {'CPU med':>8s} {'wall med':>9s}  (ms per run, this thread)")
    for name, fn in rows.items():
        best, med, wall = timed(fn, args.runs, args.rounds)
        print(f"{name:28s} {best:9.2f} {med:8.2f} {wall:9.2f}")

    # the live view: a still live face with camera noise, 30 frames a second, tracked with liveness on
    rng = np.random.default_rng(0)
    frames = [np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8) for _ in range(args.frames)]
    tracker = FaceTracker(analyzer, AnalyzeOptions(landmarks="full", liveness=True))
    measured = faces = 0
    spent = 0.0
    for i, frame in enumerate(frames):
        out = tracker.update(frame, i / 30)
        faces += len(out.faces)
        measured += sum(tf.raw.liveness is not None for tf in out.faces)
        spent += out.timings_ms.get("liveness", 0.0)
    print(f"tracked clip: {args.frames} frames, {faces} tracked faces, liveness measured on {measured} "
          f"({measured / max(faces, 1):.0%}); liveness stage {spent / max(faces, 1):.2f} ms per tracked face "
          f"(wall)")
    print(f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
