"""Latency of the face nets per face at batch 1 and per face at batch 6, and how near the FMA peak they run.

For each face net on the bbt4 reference crops (the kind face-api.js feeds it; ``bench_common``): the whole
``predict`` (pre-processing, onnxruntime, post-processing) and the graph alone (``session.run`` on the
ready input), at batch 1 and 6; the graph's multiply-accumulates per second (spec section 0's counts) and
their fraction of the machine's practical FMA peak (``bench_common.fma_peak_gmacs``: numpy's float32
matrix product on every core). Every core, the default thread pools (``FACEAPI_SHARED_POOL`` /
``FACEAPI_SPIN_US`` change them). Usage: ``python benchmarks/bench_face_nets.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os

from bench_common import MACS, NETS, fma_peak_gmacs, graph_input, load_crops, load_net, timed

FACE_NETS = [name for name, (spec, _) in NETS.items() if spec.kind == "face"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    peak = fma_peak_gmacs()
    print(f"practical FMA peak: {peak:.0f} GMAC/s (float32 matrix product, {os.cpu_count()} cores); "
          f"load average {os.getloadavg()[0]:.1f}; medians of {args.repeat} calls (batch 6: a third as many), ms\n")
    print("| net | batch | predict per face | graph per face | GMAC/s | of the FMA peak |")
    print("|---|---|---|---|---|---|")
    for name in FACE_NETS:
        net = load_net(name)
        crops = load_crops(NETS[name][1])
        for batch in (1, 6):
            reps = args.repeat if batch == 1 else max(args.repeat // 3, 5)
            whole = timed(lambda n=net, c=crops[:batch]: n.predict(c), reps)[0] / batch
            feed = {"input": graph_input(name, batch)}
            graph = timed(lambda n=net, f=feed: n.session.run(None, f), reps)[0] / batch
            gmacs = MACS[name] / graph / 1e6
            print(f"| {name} | {batch} | {whole:.2f} | {graph:.2f} | {gmacs:.1f} | {gmacs / peak:.0%} |")


if __name__ == "__main__":
    main()
