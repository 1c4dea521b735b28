"""Latency of the face nets: per face at batch 1, and per batch of 6 faces (plus per face), 1 and 2 threads.

Times ``net.predict(crops)`` end to end (preprocessing, onnxruntime, postprocessing) on the bbt4 reference
crops when /work/shared (or $FACEAPI_SHARED) is there, else on random crops of similar sizes.
Prints a markdown table. Usage: ``python benchmarks/bench_face_nets.py [--repeat N] [--threads 1 2]``.
With ``FACEAPI_SHARED_POOL=1`` give one ``--threads`` value per run: onnxruntime sizes the shared pool
once per process, so a second thread count would run (with a warning) on the first one's pool.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from faceapi.engine.runtime import RuntimeConfig
from faceapi.nets.age_gender import AgeGenderNet
from faceapi.nets.face_expression import FaceExpressionNet
from faceapi.nets.face_landmark_68 import FaceLandmark68Net, FaceLandmark68TinyNet
from faceapi.nets.face_recognition import FaceRecognitionNet

# (label, class, crop kind, per-face target in ms)
NETS = [
    ("landmarks 68", FaceLandmark68Net, "detection", 2.7),
    ("landmarks 68 tiny", FaceLandmark68TinyNet, "detection", 1.8),
    ("expressions", FaceExpressionNet, "aligned", 2.7),
    ("age/gender", AgeGenderNet, "aligned", 3.2),
    ("descriptor", FaceRecognitionNet, "dlib", 7.6),
]


def load_crops(kind: str) -> list[np.ndarray]:
    shared = Path(os.environ.get("FACEAPI_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    folder = shared / "reference" / "bbt4"
    if folder.is_dir():
        from PIL import Image

        return [np.asarray(Image.open(folder / f"face{i}_{kind}.png").convert("RGB")) for i in range(6)]
    rng = np.random.default_rng(0)
    sizes = [(129, 100), (117, 74), (131, 89), (117, 83), (107, 82), (129, 75)]
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def timeit(fn, repeat: int) -> tuple[float, float]:
    """(median, min) wall time in ms over `repeat` calls, after warm-up."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    print("| net | threads | batch 1: median / min ms per face | batch 6: median / min ms per batch "
          "| batch 6: median ms per face | target ms per face | met |")
    print("|---|---|---|---|---|---|---|")
    for label, cls, kind, target in NETS:
        crops = load_crops(kind)
        for threads in args.threads:
            net = cls(runtime=RuntimeConfig(threads=threads))
            one_med, one_min = timeit(lambda net=net, c=crops[:1]: net.predict(c), args.repeat)
            six_med, six_min = timeit(lambda net=net, c=crops: net.predict(c), max(args.repeat // 3, 5))
            best = min(one_med, six_med / 6)
            print(f"| {label} | {threads} | {one_med:.2f} / {one_min:.2f} | {six_med:.2f} / {six_min:.2f} "
                  f"| {six_med / 6:.2f} | {target} | {'yes' if best <= target else 'NO'} |")


if __name__ == "__main__":
    main()
