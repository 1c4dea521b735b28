"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) and exponential smoothing, on numpy arrays.

One Euro is a low-pass filter whose cutoff rises with speed: a still signal is smoothed hard (jitter goes),
a moving one lightly (little lag). Per sample, with ``dt`` the seconds since the previous one::

    alpha(fc)  = 1 / (1 + 1 / (2 pi fc dt))
    dx         = (x - x_prev) / dt, smoothed:  dx_hat = dx_hat + alpha(d_cutoff) * (dx - dx_hat)
    fc         = min_cutoff + beta * |dx_hat|
    x_hat      = x_hat + alpha(fc) * (x - x_hat)

Here a signal is an array of points ``(..., D)``: the speed ``|dx_hat|`` is the length of each point's
velocity (a landmark's 2-D speed), so the coordinates of one point share one cutoff.
"""

from __future__ import annotations

import math

import numpy as np

#: Smallest time step (s) the filter divides by; a sample closer to the previous one keeps the state.
MIN_DT = 1e-6


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    """``alpha = 1 / (1 + tau / dt)`` with ``tau = 1 / (2 pi cutoff)``: the weight of a new sample."""
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff, np.float64))
    out: np.ndarray = 1.0 / (1.0 + tau / dt)
    return out


class OneEuroFilter:
    """One Euro filter over an array of points of fixed shape ``(..., D)`` (a box is 2 points, landmarks 68).

    Args:
        min_cutoff: cutoff in Hz of a still signal; lower: steadier when still, more lag when starting to move.
        beta: how fast the cutoff rises with speed (Hz per unit/s); higher: less lag when moving.
        d_cutoff: cutoff in Hz of the speed estimate.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time = 0.0

    def reset(self) -> None:
        self.value = None
        self._speed = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """The filtered value of sample `x` taken at time `t` (seconds, increasing)."""
        x = np.asarray(x, np.float64)
        if self.value is None or self._speed is None or self.value.shape != x.shape:
            self.value, self._speed, self._time = x.copy(), np.zeros_like(x), t
            return np.array(x)
        dt = t - self._time
        if not dt >= MIN_DT:  # same, earlier or next to the same time stamp (or NaN): no time passed to
            return np.array(self.value)  # filter over (a vanishing dt would make the speed infinite); keep the state
        self._time = t
        velocity = (x - self.value) / dt
        self._speed = self._speed + smoothing_factor(self.d_cutoff, dt) * (velocity - self._speed)
        speed = np.linalg.norm(self._speed, axis=-1, keepdims=True)
        alpha = smoothing_factor(self.min_cutoff + self.beta * speed, dt)
        value: np.ndarray = self.value + alpha * (x - self.value)
        self.value = value
        return np.array(value)


class ExponentialSmoother:
    """``s = s + alpha * (x - s)``, the first sample taken as is (alpha 1: no smoothing)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.value: np.ndarray | None = None

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        arr = np.asarray(x, np.float64)
        value: np.ndarray = arr.copy() if self.value is None or self.value.shape != arr.shape \
            else self.value + self.alpha * (arr - self.value)
        self.value = value
        return np.array(value)
