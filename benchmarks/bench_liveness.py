"""Cost of liveness per face: upstream's two crops + resizes, and the two MiniFASNet nets at batch 1, on a
nuaa-dev photo's SSD box; median and best of N runs (wall clock) and the process's CPU time per run.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_liveness.py [--runs 200] [--threads 1]

The machine is shared: the best run is the closest to the cost on a quiet machine, the median what a busy
one gives. Also times PReLU as onnxruntime's own kernel against the graph's relu + slope * min.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from faceapi.engine.runtime import RuntimeConfig
from faceapi.image import load_image
from faceapi.liveness import liveness_scores
from faceapi.nets import minifasnet
from faceapi.pipeline import FaceAnalyzer

IMAGE = Path(__file__).resolve().parents[2] / "shared/eval/liveness/nuaa-dev/real/0003_0003_01_00_01_0.jpg"


def timed(fn, runs: int) -> tuple[float, float, float]:
    for _ in range(10):
        fn()
    walls = []
    cpu0 = time.process_time()
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
    cpu = (time.process_time() - cpu0) / runs
    return statistics.median(walls) * 1e3, min(walls) * 1e3, cpu * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    analyzer = FaceAnalyzer(runtime=RuntimeConfig(threads=args.threads))
    image = load_image(str(IMAGE))
    box = analyzer.analyze(image).faces[0].detection.box
    nets = [analyzer.net(s.name) for s in minifasnet.SPECS]
    batches = [n.preprocess_faces(image, [box]) for n in nets]  # type: ignore[attr-defined]
    rows = {
        "crops + resizes (both)": lambda: [n.preprocess_faces(image, [box]) for n in nets],  # type: ignore[attr-defined]
        "MiniFASNetV2 forward": lambda: nets[0].forward(batches[0]),
        "MiniFASNetV1SE forward": lambda: nets[1].forward(batches[1]),
        "both nets forward": lambda: [n.forward(b) for n, b in zip(nets, batches)],
        "liveness per face (all)": lambda: liveness_scores(analyzer, image, [box]),
    }
    print(f"threads={args.threads} runs={args.runs}  (ms: median, best, CPU per run)")
    for name, fn in rows.items():
        med, best, cpu = timed(fn, args.runs)
        print(f"{name:28s} {med:7.2f} {best:7.2f} {cpu:7.2f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
