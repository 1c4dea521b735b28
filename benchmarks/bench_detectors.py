"""Latency of the two face detectors on one image: whole ``detect()`` and graph only.

Usage: ``python benchmarks/bench_detectors.py [--image PATH] [--runs N] [--threads 1 2]``

For each net and input size (SSD 512; tiny 128, 224, 320, 416, 512, 608) and each thread count, runs
warm-up calls and then N timed calls, and prints a markdown table with the median and minimum latency in
milliseconds, the effective GMAC/s (multiply-accumulates of spec section 0 / median graph time) and its
fraction of the machine's practical FMA peak (``bench_common.fma_peak_gmacs``).
With ``FACEAPI_SHARED_POOL=1`` give one ``--threads`` value per run (onnxruntime sizes that pool once per process).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench_common import fma_peak_gmacs

from faceapi.engine.runtime import RuntimeConfig
from faceapi.image import load_image
from faceapi.nets import ssd_mobilenetv1, tiny_face_detector
from faceapi.nets.ssd_mobilenetv1 import SsdMobilenetv1
from faceapi.nets.tiny_face_detector import TinyFaceDetector
from faceapi.options import TinyFaceDetectorOptions

DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "images" / "bbt4.jpg"

#: multiply-accumulates per inference (spec section 0)
SSD_MACS = 3_143_007_488


def tiny_macs(size: int) -> float:
    """MACs of the tiny detector at input side `size`, counted as in spec section 0.1.

    Gives the spec's numbers (198,760,528 at 416; 57.4 M at 224, ...) and 18.6 M at 128.
    """
    s = size - 2  # conv0 VALID
    macs = s * s * 9 * 3 * 16
    chans = [16, 32, 64, 128, 256, 512]
    for i in range(1, 6):
        s = -(-s // 2)  # maxpool 2x2 stride 2 SAME
        cin, cout = chans[i - 1], chans[i]
        macs += s * s * 9 * cin + s * s * cin * cout
    return macs + s * s * 512 * 25


def timed(fn: Callable[[], object], runs: int, warmup: int) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


def bench_threads(image, threads: int, args: argparse.Namespace) -> list[tuple]:
    """Rows (net, input size, threads, detect() (median, min), graph (median, min), MACs) for one thread count."""
    rows = []
    runtime = RuntimeConfig(threads=threads)
    if not args.no_ssd:
        ssd = SsdMobilenetv1(runtime=runtime)
        batch, _ = ssd_mobilenetv1.preprocess(image)
        graph = timed(lambda: ssd.forward(batch), args.runs, args.warmup)
        whole = timed(lambda: ssd.detect(image), args.runs, args.warmup)
        rows.append(("ssd_mobilenetv1", 512, threads, whole, graph, SSD_MACS))
    tiny = TinyFaceDetector(runtime=runtime)
    for size in args.sizes:
        opts = TinyFaceDetectorOptions(input_size=size)
        batch, _ = tiny_face_detector.preprocess(image, size)
        graph = timed(lambda b=batch: tiny.forward(b), args.runs, args.warmup)
        whole = timed(lambda o=opts: tiny.detect(image, o), args.runs, args.warmup)
        rows.append(("tiny_face_detector", size, threads, whole, graph, tiny_macs(size)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224, 320, 416, 512, 608])
    parser.add_argument("--no-ssd", action="store_true")
    args = parser.parse_args(argv)
    image = load_image(args.image)
    rows = []
    for threads in args.threads:
        rows += bench_threads(image, threads, args)
    peak = fma_peak_gmacs()
    print(f"image: {args.image.name} {image.shape[1]}x{image.shape[0]}, {args.runs} runs after {args.warmup} "
          f"warm-up, times in ms; practical FMA peak {peak:.0f} GMAC/s (every core)")
    print()
    print("| net | input | threads | detect() median | detect() min | graph median | graph min | GMAC | GMAC/s "
          "| of the FMA peak |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for net, size, threads, (wmed, wmin), (gmed, gmin), macs in rows:
        print(f"| {net} | {size} | {threads} | {wmed:.1f} | {wmin:.1f} | {gmed:.1f} | {gmin:.1f} | "
              f"{macs / 1e9:.3f} | {macs / 1e6 / gmed:.1f} | {macs / 1e6 / gmed / peak:.0%} |")


if __name__ == "__main__":
    main()
