"""Liveness over a track: when to run the MiniFASNet nets on a tracked face, and the verdict smoothed across
the frames (`faceapi.liveness` judges one frame).

A track is one person (`faceapi.tracking.face_tracker`: the tracker gives a new id when the person changes),
so a track's liveness measurements are evidence about one face. `LivenessFilter` keeps them for the last
`WINDOW_S` seconds and gives their **median** as the smoothed score: the verdict follows the majority of the
last second's measurements, so one odd frame flips it neither way (a blurred or turned live face scoring low
once, a print scoring high once), and a live person is called a photo only when most of a second's
measurements say so. A mean of probabilities would let one high score pass a print; a mean of log-odds lets
one near-zero score (log-odds -10 and below) outweigh several live ones (+1 to +7); the median does neither.

The nets run on a tracked face (`due`) on every detector frame, on a track's first frame, and otherwise once
`PERIOD_S` has passed since its last measurement: about 6 measurements in each second's window at any frame
rate from 6 a second up; at 30 frames a second the nets run on every fifth frame of a face, and on the
detector's: 30 % of the frames on benchmarks/bench_liveness.py's tracked clip (docs/liveness.md). Between
measurements a face carries its track's smoothed verdict. A new track, and a track taken up again after a
loss, starts with no measurements.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from faceapi.liveness import judge
from faceapi.results import Liveness

#: Seconds of measurements the smoothed verdict is the median of.
WINDOW_S = 1.0
#: A tracked face is measured again once this many seconds passed since its last measurement.
PERIOD_S = 0.15


class LivenessFilter:
    """A track's liveness measurements (time, score) over the last `WINDOW_S` and their smoothed verdict.

    `smoothing` False: the verdict is the latest measurement's (the tracker's "engine values as they are").
    """

    def __init__(self, smoothing: bool = True) -> None:
        self.smoothing = smoothing
        self._samples: deque[tuple[float, float]] = deque()

    @property
    def last_time(self) -> float | None:
        """When the face was last measured (None: never)."""
        return self._samples[-1][0] if self._samples else None

    def due(self, t: float, detector_frame: bool) -> bool:
        """Whether the nets should run on this track's face at time `t` (module docstring)."""
        last = self.last_time
        return detector_frame or last is None or t - last >= PERIOD_S

    def add(self, score: float, t: float) -> None:
        """A measurement at time `t` (the tracker's times increase)."""
        self._samples.append((t, float(score)))
        while self._samples and self._samples[0][0] <= t - WINDOW_S:
            self._samples.popleft()

    def score(self, t: float) -> float | None:
        """The smoothed score at time `t`: the median of the window's scores (None: no measurement yet). The
        latest measurement always counts, however old (a face measured last more than a window ago)."""
        if not self._samples:
            return None
        if not self.smoothing:
            return self._samples[-1][1]
        recent = [s for when, s in self._samples if when > t - WINDOW_S] or [self._samples[-1][1]]
        return float(np.median(recent))

    def verdict(self, t: float, threshold: float | None) -> Liveness | None:
        """The smoothed score judged against `threshold` (None: the shipped one); None before any measurement."""
        s = self.score(t)
        return None if s is None else judge(s, threshold)


__all__ = ["PERIOD_S", "WINDOW_S", "LivenessFilter"]
