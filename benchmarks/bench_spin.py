"""How long should a net's idle pool threads spin? Each net and whole chains at several spin settings.

onnxruntime's own pools either spin between ops (burning the core) or sleep (and are woken for each op:
a small net at batch 1 has ~50). ``RuntimeConfig(spin_us=N)`` bounds the spinning to N µs
(``session.intra_op.spin_duration_us``; 0 = never spin). Do not add a long spin (say 1000000, a second:
spinning for good, as a pool without a bound does) to the settings: its threads keep spinning while the
other settings are timed in this process, and slow them all (load average 11 on 2 cores when tried).
All settings live in one process (own pools may differ per session) and are timed in random order,
block by block, so a change in the machine's load hits all of them:

- the graphs alone (``session.run`` on the bbt4 inputs, batch 1 and 6),
- the chains tiny 416 + landmarks + expressions and SSD + every net on bbt4, by 1 stream and by N
  concurrent streams (threads sharing one analyzer, as the server's request threads do),
- optionally with ``--busy K`` other processes spinning on the cores (a loaded machine).

Usage: ``python benchmarks/bench_spin.py [--spins 0,20,100] [--streams 1,3] [--rounds 4] [--busy 0]``.
The shared pool cannot sit in this process beside own pools (onnxruntime refuses): ``bench_vs_faceapijs.py
--pools own shared nospin`` compares it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import threading
import time

from bench_common import bbt4, graph_input, load_net

from faceapi import AnalyzeOptions, FaceAnalyzer, RuntimeConfig, TinyFaceDetectorOptions

NETS = ("face_landmark_68", "face_landmark_68_tiny", "face_expression", "age_gender", "face_recognition",
        "tiny_face_detector")
CHAINS = {
    "tiny 416 + landmarks + expressions": (AnalyzeOptions(detector=TinyFaceDetectorOptions(input_size=416),
                                                          landmarks="full", expressions=True), 8),
    "SSD + all nets": (AnalyzeOptions(landmarks="full", expressions=True, age_gender=True, descriptors=True), 2),
}


def config(spin: int) -> RuntimeConfig:
    return RuntimeConfig(shared_pool=False, spin_us=spin)


def busy() -> None:
    end = time.monotonic() + 3600
    while time.monotonic() < end:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--spins", default="0,20,100", help="comma-separated µs values")
    ap.add_argument("--streams", default="1,3", help="concurrent streams for the chains")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--busy", type=int, default=0, help="other processes spinning on the cores meanwhile")
    a = ap.parse_args()
    spins = [int(s) for s in a.spins.split(",")]
    streams = [int(s) for s in a.streams.split(",")]
    image = bbt4()
    sessions = {(n, s): load_net(n, config(s)).session for n in NETS for s in spins}
    inputs = {(n, b): {"input": graph_input(n, b)}
              for n in NETS for b in ((1,) if n == "tiny_face_detector" else (1, 6))}
    analyzers = {}
    for s in spins:
        analyzers[s] = FaceAnalyzer(runtime=config(s))
        for options, _ in CHAINS.values():
            analyzers[s].analyze(image, options)  # loads the nets, warms up

    hogs = [multiprocessing.Process(target=busy, daemon=True) for _ in range(a.busy)]
    for h in hogs:
        h.start()
    graph_ms: dict[tuple[str, int, int], list[float]] = {}
    chain_ms: dict[tuple[str, int, int], list[tuple[float, float]]] = {}
    graph_jobs = [(n, b, s) for (n, b) in inputs for s in spins]
    chain_jobs = [(c, k, s) for c in CHAINS for k in streams for s in spins]
    load = [os.getloadavg()[0]]
    try:
        for _ in range(a.rounds):
            random.shuffle(graph_jobs)
            for n, b, s in graph_jobs:
                session, feed = sessions[n, s], inputs[n, b]
                for _ in range(3):
                    session.run(None, feed)
                times = []
                for _ in range(10):
                    t0 = time.perf_counter()
                    session.run(None, feed)
                    times.append((time.perf_counter() - t0) * 1000)
                graph_ms.setdefault((n, b, s), []).append(statistics.median(times))
            random.shuffle(chain_jobs)
            for c, k, s in chain_jobs:
                options, calls = CHAINS[c]
                per_call: list[list[float]] = [[] for _ in range(k)]

                def stream(out: list[float], analyzer: FaceAnalyzer = analyzers[s],
                           options: AnalyzeOptions = options, calls: int = calls) -> None:
                    for _ in range(calls):
                        t0 = time.perf_counter()
                        analyzer.analyze(image, options)
                        out.append((time.perf_counter() - t0) * 1000)

                threads = [threading.Thread(target=stream, args=(per_call[i],)) for i in range(k)]
                t0 = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - t0
                chain_ms.setdefault((c, k, s), []).append(
                    (statistics.median(x for out in per_call for x in out), k * calls / wall))
            load.append(os.getloadavg()[0])
    finally:
        for h in hogs:
            h.terminate()

    print(f"{a.rounds} rounds, settings in random order; {a.busy} busy processes; load average "
          f"{min(load):.1f} to {max(load):.1f}; medians over rounds (ms)\n")
    print("| graph | batch | " + " | ".join(f"spin {s} µs" for s in spins) + " |")
    print("|---|---|" + "---|" * len(spins))
    for n, b in inputs:
        print(f"| {n} | {b} | " + " | ".join(f"{statistics.median(graph_ms[n, b, s]):.2f}" for s in spins) + " |")
    print("\n| chain | streams | " + " | ".join(f"spin {s} µs" for s in spins) + " |")
    print("|---|---|" + "---|" * len(spins))
    for c in CHAINS:
        for k in streams:
            cells = [f"{statistics.median(v[0] for v in chain_ms[c, k, s]):.1f} ms, "
                     f"{statistics.median(v[1] for v in chain_ms[c, k, s]):.1f}/s" for s in spins]
            print(f"| {c} | {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
