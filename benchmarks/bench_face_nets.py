"""Latency of the face nets per face at batch 1 and per face at batch 6, and how near the FMA peak they run.

For each face net on the bbt4 reference crops (the kind face-api.js feeds it; ``bench_common``): the whole
``predict`` (pre-processing, onnxruntime, post-processing) and the graph alone (``session.run`` on the
ready input), at batch 1 and 6; the graph's multiply-accumulates per second (spec section 0's counts) and
their fraction of the machine's practical FMA peak (``bench_common.fma_peak_gmacs``: numpy's float32
matrix product on every core). Every core, the default thread pools (``FACEAPI_SHARED_POOL`` /
``FACEAPI_SPIN_US`` change them). The jobs run in rounds (each job's calls one after another, the jobs
in random order); each figure is the median over rounds of the per-round medians, so that a busy moment of
the machine hits one round of a job, not its figure.
Usage: ``python benchmarks/bench_face_nets.py [--repeat N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
from collections.abc import Callable

from bench_common import MACS, NETS, fma_peak_gmacs, graph_input, load_crops, load_net, timed

FACE_NETS = [name for name, (spec, _) in NETS.items() if spec.kind == "face"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="calls per job and round (batch 6: a third)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    jobs: dict[tuple[str, int, str], Callable[[], object]] = {}
    for name in FACE_NETS:
        net = load_net(name)
        crops = load_crops(NETS[name][1])
        for batch in (1, 6):
            feed = {"input": graph_input(name, batch)}
            jobs[name, batch, "predict"] = lambda n=net, c=crops[:batch]: n.predict(c)
            jobs[name, batch, "graph"] = lambda n=net, f=feed: n.session.run(None, f)
    peaks, medians = [], {key: [] for key in jobs}
    order = list(jobs)
    for _ in range(args.rounds):
        peaks.append(fma_peak_gmacs())
        random.shuffle(order)
        for key in order:
            reps = args.repeat if key[1] == 1 else max(args.repeat // 3, 5)
            medians[key].append(timed(jobs[key], reps)[0] / key[1])
    peak = statistics.median(peaks)
    print(f"practical FMA peak: {peak:.0f} GMAC/s (float32 matrix product, {os.cpu_count()} cores; rounds "
          f"{min(peaks):.0f}-{max(peaks):.0f}); load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds, ms\n")
    print("| net | batch | predict per face | graph per face | GMAC/s | of the FMA peak |")
    print("|---|---|---|---|---|---|")
    for name in FACE_NETS:
        for batch in (1, 6):
            whole = statistics.median(medians[name, batch, "predict"])
            graph = statistics.median(medians[name, batch, "graph"])
            gmacs = MACS[name] / graph / 1e6
            print(f"| {name} | {batch} | {whole:.2f} | {graph:.2f} | {gmacs:.1f} | {gmacs / peak:.0%} |")


if __name__ == "__main__":
    main()
