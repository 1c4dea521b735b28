"""Steady expressions without lag: exponential smoothing of the probabilities, with a warm-up, restarted by a
change detector.

Smoothing alone trades flicker for lag: a weight that keeps the dominant expression of a noisy still face
steady makes a face that truly changes expression show the new one late. So:

- the smoothing is ``s += a * (p - s)`` with ``a = max(expression_alpha, 1 / n)`` at the track's n-th frame:
  the mean of the frames seen so far until the exponential weight takes over, so that a track's first
  frame (one noisy sample) does not hold the dominant expression for the next several frames;
- a change detector restarts it when the net's evidence for another expression adds up: per label, a
  one-sided CUSUM in log space (nats)::

    g[c] = max(0, g[c] + log p[c] - log p[dominant] - DRIFT)        (c != the smoothed dominant)

and when some ``g[c]`` reaches `CHANGE`, the smoothing starts again from this frame's probabilities. A frame
where another expression is only somewhat likelier (under ``DRIFT`` nats, a factor e) adds nothing; a
confident change (the net's probabilities swap, ``log`` ratios of 5-20 nats) fires on its first frame.
"""

from __future__ import annotations

import numpy as np

#: Evidence (nats, summed over frames) for another expression that restarts the smoothing.
CHANGE = 4.0
#: Nats a frame's evidence must exceed to count (noise on an ambivalent face stays below it).
DRIFT = 1.0
#: Probabilities are floored here before the logarithm (a softmax rounds tiny ones to 0 in float32).
_FLOOR = 1e-12


class ExpressionFilter:
    """Smoothed expression probabilities of one track (module docstring); `changes` counts restarts."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.value: np.ndarray | None = None
        self.frames = 0  # since the last (re)start
        self.evidence: np.ndarray | None = None
        self.changes = 0

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        p = np.asarray(probabilities, np.float64)
        current = self.value
        if current is not None and current.shape == p.shape:
            dominant = int(np.argmax(current))
            z = np.log(np.maximum(p, _FLOOR))
            step = z - z[dominant] - DRIFT
            evidence = np.maximum(0.0, (self.evidence if self.evidence is not None else 0.0) + step)
            evidence[dominant] = 0.0
            if float(evidence.max()) >= CHANGE:
                current = None  # a real change: start again from this frame
                evidence[:] = 0.0
                self.changes += 1
            self.evidence = evidence
        if current is None or current.shape != p.shape:
            self.frames, value = 1, p.copy()
        else:
            self.frames += 1
            value = current + max(self.alpha, 1 / self.frames) * (p - current)
        self.value = value
        return np.array(value)
