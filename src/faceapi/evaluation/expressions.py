"""`evaluate_expressions`: an expression model on a labelled ImageFolder (``DIR/<label>/<image>``, labels in
face-api.js's names), as `faceapi eval expressions` runs it.

Two ways to see a face, as the sets need: ``crop=True`` feeds each image to the model as the face crop
(sets of 48x48 crops: a detector finds nothing at that size); otherwise the full chain runs
(`FaceAnalyzer.analyze` with SSD, 68 landmarks and expressions, exactly as the app) and the largest face
is scored. A face the chain does not find is a *miss*: a wrong answer, counted in `missed`, in the
accuracy and the recalls, and in the confusion matrix's ``"none"`` column (chain only), so the matrix
sums to `n`. An image that cannot be read is not scored: it is counted and named in `unreadable`.

Calibration (ECE, mean confidence, the reliability diagram) is over the faces that were scored (a miss
has no confidence), with the calibrated probabilities when `calibrated` is set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi import expression_models
from faceapi.evaluation import stats
from faceapi.evaluation.crops import chain_options, largest_face, read_image
from faceapi.evaluation.data import image_folder
from faceapi.results import EXPRESSION_LABELS, Expressions

if TYPE_CHECKING:
    from faceapi.pipeline import FaceAnalyzer

#: Confusion-matrix column of the faces the chain did not find.
NONE = "none"
#: Crops per batch in crop mode (the nets run a batch as one call).
CROP_BATCH = 32

ProgressCallback = Callable[[int], None]  # called with the number of images just finished


@dataclass(frozen=True)
class ExpressionEvaluation:
    """The figures of one model on one labelled set. Proportions are fractions (0..1).

    Attributes:
        dataset: the folder evaluated. model: the expression model's name. calibrated: whether the
            calibrated probabilities were scored. crop: images were face crops (else the full chain ran).
        labels: the labels present in the set, in face-api.js's order.
        n: images scored (every readable image: found faces and misses).
        accuracy, balanced_accuracy: with 95 % intervals (Wilson; bootstrap over images for the balanced one).
        recall: label -> recall with its Wilson interval.
        confusion: true label -> predicted label (and ``"none"`` for misses, chain only) -> count.
        missed / missed_images: faces the chain did not find (wrong answers), and which images.
        unreadable: (image, reason) of the images that could not be read (not in `n`).
        ece: expected calibration error (15 equal-width bins) with a bootstrap interval; mean_confidence:
            the mean probability of the answered label; reliability: the diagram's bins.
        predicted_share: label -> the fraction of scored faces given that label.
    """

    dataset: str
    model: str
    calibrated: bool
    crop: bool
    labels: tuple[str, ...]
    n: int
    accuracy: stats.Interval
    balanced_accuracy: stats.Interval
    recall: dict[str, stats.Interval]
    confusion: dict[str, dict[str, int]]
    missed: int
    missed_images: tuple[str, ...]
    unreadable: tuple[tuple[str, str], ...]
    ece: stats.Interval
    mean_confidence: float
    reliability: tuple[stats.ReliabilityBin, ...]
    predicted_share: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `faceapi eval expressions --json` (headline figures as numbers, intervals beside)."""
        def ci(i: stats.Interval) -> list[float]:
            return [i.low, i.high]
        return {
            "kind": "expressions", "dataset": self.dataset, "model": self.model, "calibrated": self.calibrated,
            "crop": self.crop, "labels": list(self.labels), "n": self.n,
            "accuracy": self.accuracy.value, "accuracy_ci95": ci(self.accuracy),
            "balanced_accuracy": self.balanced_accuracy.value,
            "balanced_accuracy_ci95": ci(self.balanced_accuracy),
            "recall": {k: v.value for k, v in self.recall.items()},
            "recall_ci95": {k: ci(v) for k, v in self.recall.items()},
            "confusion": self.confusion, "missed": self.missed, "missed_images": list(self.missed_images),
            "unreadable": len(self.unreadable),
            "unreadable_images": [{"image": p, "reason": r} for p, r in self.unreadable],
            "ece": self.ece.value, "ece_ci95": ci(self.ece), "ece_bins": stats.ECE_BINS,
            "mean_confidence": self.mean_confidence,
            "reliability": [b.to_dict() for b in self.reliability],
            "predicted_share": self.predicted_share,
            "intervals": "95 %: Wilson for proportions, percentile bootstrap (1000 resamples, seed 0) for "
                         "balanced accuracy and ECE",
        }


def summarise(dataset: str, model: str, calibrated: bool, crop: bool, names: list[str], true: list[int],
              probabilities: list[np.ndarray | None], unreadable: list[tuple[str, str]]) -> ExpressionEvaluation:
    """The figures from per-image results: true label indices, and each image's probabilities (None: a
    miss). Public so that other drivers (benchmarks, notebooks) score their own predictions the same way."""
    k = len(EXPRESSION_LABELS)
    t = np.asarray(true, np.int64)
    n = int(t.size)
    pred = np.array([-1 if p is None else int(np.argmax(p)) for p in probabilities], np.int64)
    conf = np.array([float(np.max(p)) for p in probabilities if p is not None], np.float64)
    scored = pred >= 0
    ok = (pred == t)
    present = [c for c in range(k) if np.any(t == c)]
    labels = tuple(EXPRESSION_LABELS[c] for c in present)
    recall = {EXPRESSION_LABELS[c]: stats.wilson_interval(int(np.sum(ok & (t == c))), int(np.sum(t == c)))
              for c in present}
    balanced = stats.bootstrap_interval(lambda idx: stats.balanced_accuracy(t[idx], pred[idx], k), n) \
        if n else stats.Interval(math.nan, math.nan, math.nan, "bootstrap")
    correct_scored = ok[scored]
    ece = stats.bootstrap_interval(lambda idx: stats.expected_calibration_error(conf[idx], correct_scored[idx]),
                                   int(conf.size)) if conf.size else stats.Interval(math.nan, math.nan, math.nan,
                                                                                    "bootstrap")
    cm = stats.confusion_matrix(t, pred, k)
    columns = list(EXPRESSION_LABELS) + ([] if crop else [NONE])
    confusion = {}
    for c in present:
        row = {EXPRESSION_LABELS[j]: int(cm[c, j]) for j in range(k)}
        if not crop:
            row[NONE] = int(np.sum((t == c) & ~scored))
        confusion[EXPRESSION_LABELS[c]] = {col: row[col] for col in columns}
    share = {lab: float(np.mean(pred[scored] == j)) if scored.any() else math.nan
             for j, lab in enumerate(EXPRESSION_LABELS)}
    return ExpressionEvaluation(
        dataset=dataset, model=model, calibrated=calibrated, crop=crop, labels=labels, n=n,
        accuracy=stats.wilson_interval(int(ok.sum()), n), balanced_accuracy=balanced, recall=recall,
        confusion=confusion, missed=int((~scored).sum()),
        missed_images=tuple(nm for nm, s in zip(names, scored) if not s), unreadable=tuple(unreadable),
        ece=ece, mean_confidence=float(conf.mean()) if conf.size else math.nan,
        reliability=tuple(stats.reliability(conf, correct_scored)), predicted_share=share)


def _scored(e: Expressions, calibrated: bool) -> np.ndarray:
    if calibrated:
        if e.calibrated is None:
            raise AssertionError("calibrated probabilities were asked for and not computed")
        return np.asarray(e.calibrated, np.float64)
    return np.asarray(e.probabilities, np.float64)


def evaluate_expressions(root: str | os.PathLike[str], *, crop: bool = False, model: str = "faceapi",
                         calibrated: bool = False, analyzer: FaceAnalyzer | None = None, limit: int | None = None,
                         progress: ProgressCallback | None = None) -> ExpressionEvaluation:
    """Score the expression model `model` on the ImageFolder `root` (see the module's note).

    Raises:
        EvaluationError: `root` is not such a folder (unknown label folders, no images).
        OptionsError: `model` is not a known expression model.
        ModelNotFoundError / ModelError: a net's weights are missing or corrupt.
    """
    from faceapi.pipeline import FaceAnalyzer

    expression_models.get(model)  # an unknown name fails before any work
    items = image_folder(root, limit=limit)
    analyzer = analyzer or FaceAnalyzer()
    base = Path(root)
    names = [str(p.relative_to(base)) for p, _ in items]
    true: list[int] = []
    probs: list[np.ndarray | None] = []
    kept: list[str] = []
    unreadable: list[tuple[str, str]] = []
    options = chain_options(expressions=True, expression_model=model, calibrated=calibrated)
    pending: list[tuple[str, int, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        out = expression_models.predict(analyzer, [img for _, _, img in pending], model, calibrated)
        for (name, label, _), e in zip(pending, out):
            kept.append(name)
            true.append(label)
            probs.append(_scored(e, calibrated))
        if progress:
            progress(len(pending))
        pending.clear()

    for (path, label), name in zip(items, names):
        img = read_image(path, analyzer)
        if isinstance(img, str):
            unreadable.append((name, img))
            if progress:
                progress(1)
            continue
        if crop:
            pending.append((name, EXPRESSION_LABELS.index(label), img))
            if len(pending) >= CROP_BATCH:
                flush()
            continue
        face = largest_face(analyzer.analyze(img, options).faces)
        kept.append(name)
        true.append(EXPRESSION_LABELS.index(label))
        probs.append(None if face is None or face.expressions is None else _scored(face.expressions, calibrated))
        if progress:
            progress(1)
    flush()
    return summarise(str(root), model, calibrated, crop, kept, true, probs, unreadable)


__all__ = ["NONE", "ExpressionEvaluation", "evaluate_expressions", "summarise"]
