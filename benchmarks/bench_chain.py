"""Latency of whole chains on one image (the per-frame cost), 1 and 2 threads.

Chains: "tiny 416 + landmarks + expressions" (the web page's default, issue 3's reference chain),
"SSD + landmarks + expressions + age/gender + descriptors" (everything). Times
``FaceAnalyzer.analyze`` on the decoded image array (decoding excluded, as in face-api.js's reference
figure), and reports the per-stage split of the median run.
Usage: ``python benchmarks/bench_chain.py [--image PATH] [--repeat N]``.
With ``FACEAPI_SHARED_POOL=1`` give one ``--threads`` value per run: onnxruntime sizes the shared pool
once per process, so a second thread count would run (with a warning) on the first one's pool.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from faceapi import AnalyzeOptions, FaceAnalyzer, RuntimeConfig, TinyFaceDetectorOptions, load_image

CHAINS = {
    "tiny 416 + landmarks + expressions": AnalyzeOptions(
        detector=TinyFaceDetectorOptions(input_size=416), landmarks="full", expressions=True),
    "tiny 416 + tiny landmarks + expressions": AnalyzeOptions(
        detector=TinyFaceDetectorOptions(input_size=416), landmarks="tiny", expressions=True),
    "SSD + landmarks + expressions + age/gender + descriptors": AnalyzeOptions(
        landmarks="full", expressions=True, age_gender=True, descriptors=True),
}


def main() -> None:
    shared = Path(os.environ.get("FACEAPI_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(shared / "images" / "bbt4.jpg"))
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    image = load_image(args.image)
    print(f"image {args.image} ({image.shape[1]}x{image.shape[0]}), median / min of {args.repeat} runs, ms\n")
    print("| chain | threads | faces | median | min | stages of the median run |")
    print("|---|---|---|---|---|---|")
    for threads in args.threads:
        analyzer = FaceAnalyzer(runtime=RuntimeConfig(threads=threads))
        for label, options in CHAINS.items():
            for _ in range(3):
                analyzer.analyze(image, options)
            runs = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                result = analyzer.analyze(image, options)
                runs.append(((time.perf_counter() - t0) * 1000, result))
            runs.sort(key=lambda r: r[0])
            median_ms, median_result = runs[len(runs) // 2]
            stages = ", ".join(f"{k} {v:.1f}" for k, v in median_result.timings_ms.items()
                               if k not in ("total", "decode"))
            print(f"| {label} | {threads} | {len(median_result.faces)} | {median_ms:.1f} | {runs[0][0]:.1f} "
                  f"| {stages} |")


if __name__ == "__main__":
    main()
