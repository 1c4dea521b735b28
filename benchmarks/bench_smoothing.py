"""The One Euro filter's lag and steadiness at each `d_cutoff`: a simulated face, no nets involved.

A landmark's x pans at 240 px/s across 360 px and back (the browser test's fake webcam: 16 px per frame at
15 fps), sampled at 15, 7 and 5 answers per second with Gaussian noise of 0.5 px (the engine's landmark
jitter on a still face is about that); then the same noise on a still point. Reports, after the first two
seconds, the filtered value's lag behind the true position (median, 95th percentile, largest: the largest
comes just after the face turns back, while the filter's speed estimate still says "slow") and the
standard deviation of the still point (lower: steadier). ``min_cutoff`` 1 Hz and ``beta`` 0.05 as in
`TrackingOptions`. Usage: ``python benchmarks/bench_smoothing.py [--seconds 30]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from faceapi.tracking.one_euro import OneEuroFilter

SPEED = 240.0  # px/s
SPAN = 360.0  # px


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| answers/s | d_cutoff Hz | lag median px | lag p95 | lag max | still: std px (raw 0.5) |")
    print("|---|---|---|---|---|---|")
    for fps in (15, 7, 5):
        t = np.arange(0, a.seconds, 1 / fps)
        phase = (t * SPEED / SPAN) % 2
        truth = np.where(phase < 1, phase, 2 - phase) * SPAN
        settle = int(2 * fps)
        for d_cutoff in (1.0, 2.0, 4.0, 8.0):
            moving, still = OneEuroFilter(1.0, 0.05, d_cutoff), OneEuroFilter(1.0, 0.05, d_cutoff)
            lag = np.array([abs(moving(np.array([[x + rng.normal(0, 0.5), 0.0]]), ti)[0, 0] - x)
                            for ti, x in zip(t, truth)])[settle:]
            steady = np.array([still(np.array([[100 + rng.normal(0, 0.5), 0.0]]), ti)[0, 0] for ti in t])[settle:]
            print(f"| {fps} | {d_cutoff:g} | {np.median(lag):.2f} | {np.percentile(lag, 95):.2f} | {lag.max():.2f} "
                  f"| {steady.std():.3f} |")


if __name__ == "__main__":
    main()
