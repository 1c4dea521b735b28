"""The statistics every evaluation reports, in one place (expressions, verification, liveness).

- `wilson_interval`: the 95 % Wilson score interval of a proportion (accuracy, a recall, an error rate);
  honest at small counts and at 0 or 1, where the normal approximation is not.
- `bootstrap_interval`: a percentile bootstrap interval of any statistic of per-item data (balanced
  accuracy, which is not a simple proportion), reproducible (fixed seed).
- `reliability` / `expected_calibration_error`: the reliability diagram's bins and the ECE over equal-width
  confidence bins (15 by default, as Guo et al. 2017): sum over bins of (bin size / n) x |accuracy -
  mean confidence|.
- `balanced_accuracy`: the mean of the per-class recalls, over the classes present.
- `error_rates`, `threshold_for_fmr`, `det_curve`, `equal_error_rate`: decisions on distances or scores.
  The convention is face-api.js's: a pair *matches* when its distance is strictly below the threshold.
  For a score where higher means "accept" (liveness), pass ``-score`` as the distance.
- `gallery_false_match`: the chance that a stranger matches at least one of N enrolled people, each
  independently with probability `fmr`: ``1 - (1 - fmr) ** N``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: z of a two-sided 95 % interval.
Z95 = 1.959963984540054
#: Equal-width confidence bins of the ECE, as the issue (and Guo et al.) use.
ECE_BINS = 15


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95 % interval (`method`: "wilson" or "bootstrap")."""

    value: float
    low: float
    high: float
    method: str

    def to_dict(self) -> dict[str, float | str]:
        return {"value": self.value, "low": self.low, "high": self.high, "method": self.method}


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval:
    """The Wilson score interval of `successes` out of `n` (value: the plain proportion).

    ``centre = (p + z²/2n) / (1 + z²/n)``, ``half = z sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)``.
    With n = 0 the proportion is undefined: NaN, and the interval [0, 1].
    """
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return Interval(math.nan, 0.0, 1.0, "wilson")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), "wilson")


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n: int, value: float | None = None,
                       resamples: int = 1000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap of ``statistic(indices)`` over `resamples` draws of n indices with replacement.

    `statistic` gets an index array into the per-item data it closes over. NaN draws (a class absent from a
    resample) are left out of the percentiles. `value` defaults to the statistic of all items.
    """
    point = statistic(np.arange(n)) if value is None else value
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, "bootstrap")
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(rng.integers(0, n, n)) for _ in range(resamples)], np.float64)
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return Interval(point, math.nan, math.nan, "bootstrap")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(float(point), float(low), float(high), "bootstrap")


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """``[classes, classes]`` counts, rows the true class, columns the predicted one (-1: no prediction,
    left out of the columns, so a row may sum to less than its class's count)."""
    m = np.zeros((classes, classes), np.int64)
    keep = predicted >= 0
    np.add.at(m, (true[keep], predicted[keep]), 1)
    return m


def recalls(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Per-class recall (NaN for a class with no items); a missing prediction (-1) is a wrong one."""
    out = np.full(classes, np.nan)
    for c in range(classes):
        mask = true == c
        if mask.any():
            out[c] = float(np.mean(predicted[mask] == c))
    return out


def balanced_accuracy(true: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    """The mean of the per-class recalls over the classes present in `true`."""
    r = recalls(true, predicted, classes)
    return float(np.nanmean(r)) if np.isfinite(r).any() else math.nan


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin of a reliability diagram: [low, high), its item count, mean confidence and
    accuracy (NaN when empty)."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float

    def to_dict(self) -> dict[str, float | int | None]:
        def num(x: float) -> float | None:
            return None if math.isnan(x) else x
        return {"low": self.low, "high": self.high, "count": self.count, "confidence": num(self.confidence),
                "accuracy": num(self.accuracy)}


def reliability(confidence: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray,
                bins: int = ECE_BINS) -> list[ReliabilityBin]:
    """Items binned by confidence into `bins` equal-width bins of [0, 1]; bin i is ``(i/bins, (i+1)/bins]``
    (the first also takes 0), as the usual ECE implementations do."""
    conf = np.asarray(confidence, np.float64)
    ok = np.asarray(correct, bool)
    if conf.shape != ok.shape:
        raise ValueError(f"confidence and correct differ in shape: {conf.shape} vs {ok.shape}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    out = []
    for i in range(bins):
        mask = index == i
        k = int(mask.sum())
        out.append(ReliabilityBin(float(edges[i]), float(edges[i + 1]), k,
                                  float(conf[mask].mean()) if k else math.nan,
                                  float(ok[mask].mean()) if k else math.nan))
    return out


def expected_calibration_error(confidence: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """ECE: sum over the `reliability` bins of (count / n) x |accuracy - mean confidence|."""
    parts = reliability(confidence, correct, bins)
    n = sum(b.count for b in parts)
    if n == 0:
        return math.nan
    return float(sum(b.count / n * abs(b.accuracy - b.confidence) for b in parts if b.count))


@dataclass(frozen=True)
class ErrorRates:
    """Decisions at one threshold: a pair matches when its distance is below `threshold`.
    `fmr`: different pairs that match; `fnmr`: same pairs that do not."""

    threshold: float
    false_matches: int
    different: int
    false_non_matches: int
    same: int

    @property
    def fmr(self) -> float:
        return self.false_matches / self.different if self.different else math.nan

    @property
    def fnmr(self) -> float:
        return self.false_non_matches / self.same if self.same else math.nan


def error_rates(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> ErrorRates:
    """`ErrorRates` of same-pair (`genuine`) and different-pair (`impostor`) distances at `threshold`
    (NaN distances, pairs that could not be compared, never match)."""
    g = np.asarray(genuine, np.float64)
    i = np.asarray(impostor, np.float64)
    return ErrorRates(threshold, int(np.sum(i < threshold)), i.size, int(np.sum(~(g < threshold))), g.size)


def threshold_for_fmr(impostor: np.ndarray, target: float) -> float:
    """The largest threshold whose false-match rate on `impostor` distances is at most `target`.

    Matches are ``distance < threshold``, so the threshold is the (k+1)-th smallest impostor distance with
    k = floor(target x n) false matches allowed. With few impostor pairs a small target means k = 0 (the
    smallest impostor distance): the set cannot resolve rates under 1/n, which the caller should say.
    """
    d = np.sort(np.asarray(impostor, np.float64)[np.isfinite(impostor)])
    if d.size == 0:
        return math.nan
    k = int(math.floor(target * d.size + 1e-12))
    return float(d[k]) if k < d.size else float(np.nextafter(d[-1], np.inf))


@dataclass(frozen=True)
class DetCurve:
    """False-match and false-non-match rates at every threshold that changes a decision (sorted)."""

    thresholds: tuple[float, ...]
    fmr: tuple[float, ...]
    fnmr: tuple[float, ...]


def det_curve(genuine: np.ndarray, impostor: np.ndarray) -> DetCurve:
    """The DET curve (ROC's error-rate form): thresholds just above each observed finite distance."""
    g = np.asarray(genuine, np.float64)
    i = np.asarray(impostor, np.float64)
    both = np.concatenate([g, i])
    cuts = np.unique(both[np.isfinite(both)])
    thresholds = np.concatenate([[0.0], np.nextafter(cuts, np.inf)])
    rates = [error_rates(g, i, float(t)) for t in thresholds]
    return DetCurve(tuple(float(t) for t in thresholds), tuple(r.fmr for r in rates), tuple(r.fnmr for r in rates))


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(EER, its threshold): the point of the DET curve where FMR and FNMR are closest (their mean there)."""
    curve = det_curve(genuine, impostor)
    gaps = [abs(a - b) for a, b in zip(curve.fmr, curve.fnmr)]
    k = int(np.argmin(gaps))
    return (curve.fmr[k] + curve.fnmr[k]) / 2, curve.thresholds[k]


def gallery_false_match(fmr: float, gallery_size: int) -> float:
    """The chance that a stranger matches at least one of `gallery_size` people: ``1 - (1 - fmr) ** N``
    (each comparison independently a false match with probability `fmr`; an approximation: real
    comparisons against one probe are not independent)."""
    if gallery_size < 0:
        raise ValueError(f"gallery size must be >= 0, got {gallery_size}")
    return float(1 - (1 - fmr) ** gallery_size)


__all__ = ["ECE_BINS", "Z95", "DetCurve", "ErrorRates", "Interval", "ReliabilityBin", "balanced_accuracy",
           "bootstrap_interval", "confusion_matrix", "det_curve", "equal_error_rate", "error_rates",
           "expected_calibration_error", "gallery_false_match", "recalls", "reliability", "threshold_for_fmr",
           "wilson_interval"]
