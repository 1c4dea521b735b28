"""Cost per face of each expression model (`--expression-model`) against face-api.js's net, as the live chain
runs it: `expression_models.predict_input` on the six bbt4 aligned crops (preprocessed once, as the chain
shares that input with age/gender), batch 1 (one face a frame) and batch 6.

Two measures per model: wall time (median over calls) and the process's CPU time per face (less swayed
by other people's jobs on a shared machine than wall time; with one onnxruntime thread, ``--threads 1``,
it is the work done). The models run in interleaved rounds so a busy moment hits all of them; the load
average is printed beside the figures.

    python benchmarks/bench_expression_models.py [--threads N] [--reps N] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench_common import graph_input

from faceapi import expression_models
from faceapi.engine.runtime import RuntimeConfig
from faceapi.pipeline import FaceAnalyzer


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: all cores)")
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    analyzer = FaceAnalyzer(runtime=RuntimeConfig(threads=args.threads))
    batches = {b: graph_input("face_expression", b) for b in (1, 6)}
    wall: dict[tuple[str, int], list[float]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    for model in expression_models.names():
        for x in batches.values():
            for _ in range(3):
                expression_models.predict_input(analyzer, x, model)
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for model in expression_models.names():
            for b, x in batches.items():
                times = []
                c0 = time.process_time()
                for _ in range(args.reps):
                    t0 = time.perf_counter()
                    expression_models.predict_input(analyzer, x, model)
                    times.append((time.perf_counter() - t0) * 1000 / b)
                cpu.setdefault((model, b), []).append((time.process_time() - c0) * 1000 / (args.reps * b))
                wall.setdefault((model, b), []).append(statistics.median(times))
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; threads "
          f"{args.threads or 'default'}; {args.rounds} rounds x {args.reps} calls")
    print("| model | batch | wall ms per face (median of rounds) | CPU ms per face | more than faceapi (wall / CPU) |")
    print("|---|---|---|---|---|")
    for (model, b), w in wall.items():
        mw, mc = statistics.median(w), statistics.median(cpu[model, b])
        bw = statistics.median(wall[expression_models.DEFAULT_MODEL, b])
        bc = statistics.median(cpu[expression_models.DEFAULT_MODEL, b])
        print(f"| {model} | {b} | {mw:.3f} | {mc:.3f} | {mw - bw:+.3f} / {mc - bc:+.3f} |")


if __name__ == "__main__":
    main()
