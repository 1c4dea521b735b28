"""Matching time per face against 1 000, 10 000 and 100 000 stored descriptors (issue 6).

Synthetic but realistic descriptors: people are points around a common mean (norm ~1.4, like the net's
descriptors), 10 samples each; same-person distances ~0.4, different-person ~0.9, as with
face_recognition_model. Queries are fresh samples of enrolled people. Times `FaceMatcher.match_descriptors`
for one face per call (a live frame) and for 8 faces per call (a group photo), both strategies, plus what a
gallery costs around it: the one-transaction enrolment of all the descriptors, the first `Gallery.matcher()`
after a write (reads every vector from SQLite) and a cached `Gallery.matcher()` call.

Prints a markdown table. Usage: ``python benchmarks/bench_matching.py [--sizes 1000 10000 100000] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from faceapi.gallery import Gallery
from faceapi.matching import FaceMatcher


def synthetic(n: int, per_person: int, seed: int = 0) -> tuple[list[str], np.ndarray, list[int], np.ndarray]:
    rng = np.random.default_rng(seed)
    people = max(1, n // per_person)
    mean = rng.normal(0, 0.12, 128)
    centres = mean + rng.normal(0, 0.05, (people, 128))
    counts = [per_person] * people
    counts[-1] += n - people * per_person
    owner = np.repeat(np.arange(people), counts)
    matrix = (centres[owner] + rng.normal(0, 0.025, (n, 128))).astype(np.float32)
    queries = (centres[rng.integers(0, people, 64)] + rng.normal(0, 0.025, (64, 128))).astype(np.float32)
    return [f"person {i}" for i in range(people)], matrix, counts, queries


def per_call_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--per-person", type=int, default=10, help="descriptors per person (default 10)")
    ap.add_argument("--repeat", type=int, default=30, help="timed calls per cell (median reported)")
    ap.add_argument("--no-gallery", action="store_true", help="skip the SQLite columns")
    args = ap.parse_args()

    rows = []
    for n in args.sizes:
        labels, matrix, counts, queries = synthetic(n, args.per_person)
        cells = {}
        for strategy in ("mean", "nearest"):
            m = FaceMatcher.from_arrays(labels, matrix, counts, 0.6, strategy)
            one = per_call_ms(lambda m=m, q=queries[:1]: m.match_descriptors(q), args.repeat)
            eight = per_call_ms(lambda m=m, q=queries[:8]: m.match_descriptors(q), args.repeat) / 8
            hits = sum(x.label != "unknown" for x in m.match_descriptors(queries))
            cells[strategy] = (one, eight, hits / len(queries))
        gallery_cells = ("", "", "")
        if not args.no_gallery:
            with tempfile.TemporaryDirectory() as tmp:
                g = Gallery(Path(tmp) / "bench.sqlite3")
                t = time.perf_counter()
                g.import_json({"format": "faceapi-gallery", "version": 1, "people": [
                    {"name": label, "descriptors": matrix[s : s + c].tolist()}
                    for label, s, c in zip(labels, np.cumsum([0, *counts[:-1]]), counts)]})
                enrol_s = time.perf_counter() - t
                t = time.perf_counter()
                g.matcher()
                first_ms = (time.perf_counter() - t) * 1000
                cached_us = per_call_ms(g.matcher, args.repeat) * 1000
                g.close()
            gallery_cells = (f"{enrol_s:.2f} s", f"{first_ms:.0f} ms", f"{cached_us:.0f} µs")
        rows.append((n, len(labels), cells, gallery_cells))

    print(f"Matching per face (median of {args.repeat} calls; {args.per_person} descriptors per person; "
          f"numpy {np.__version__})\n")
    print("| stored descriptors | people | mean: 1 face/call | mean: 8 faces/call, per face | nearest: 1 face/call "
          "| nearest: 8 faces/call, per face | enrol all (1 transaction) | first matcher() after a write "
          "| cached matcher() |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, people, cells, gal in rows:
        mean, nearest = cells["mean"], cells["nearest"]
        print(f"| {n:,} | {people:,} | {mean[0]:.2f} ms | {mean[1]:.2f} ms | {nearest[0]:.2f} ms "
              f"| {nearest[1]:.2f} ms | {gal[0]} | {gal[1]} | {gal[2]} |")
    recog = ", ".join(f"{n:,}: {c['mean'][2]:.0%}/{c['nearest'][2]:.0%}" for n, _, c, _ in rows)
    print(f"\nQueries recognised (mean/nearest), a sanity check of the synthetic data: {recog}")


if __name__ == "__main__":
    main()
