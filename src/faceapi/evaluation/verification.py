"""`evaluate_verification`: the 128-d descriptor on labelled pairs in LFW's layout (``pairs.txt`` +
``images/NAME/NAME_NNNN.jpg``), as `faceapi eval verification` runs it.

Each image's descriptor is computed once: ``crop=True`` takes the whole image as the face crop
(face-api.js ``computeFaceDescriptor`` on it; for tight crops a detector misses), otherwise the full
chain (SSD, 68 landmarks, descriptor) runs and the largest face counts. Two descriptors *match* when their
Euclidean distance is below the threshold (face-api.js's FaceMatcher, 0.6). A pair with an image whose
face the chain did not find, or that could not be read, cannot match: it counts as a "different" answer
(a false non-match for a same pair) and in `missed` / `unreadable`.

With N people enrolled, a stranger is wrongly recognised with probability about ``1 - (1 - FMR)^N``
(`faceapi.evaluation.stats.gallery_false_match`): an FMR that looks small per comparison grows with the
gallery, which is why the report gives the threshold for a target FMR and what it means at N.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi.evaluation import stats
from faceapi.evaluation.crops import chain_options, largest_face, read_image
from faceapi.evaluation.data import lfw_pairs
from faceapi.matching import euclidean_distance
from faceapi.options import DEFAULT_DISTANCE_THRESHOLD

if TYPE_CHECKING:
    from faceapi.evaluation.expressions import ProgressCallback
    from faceapi.pipeline import FaceAnalyzer

DEFAULT_TARGET_FMR = 0.001
DEFAULT_GALLERY_SIZE = 100


@dataclass(frozen=True)
class VerificationEvaluation:
    """The descriptor's figures on one pair set. Rates are fractions with 95 % Wilson intervals.

    Attributes:
        threshold: the decision threshold (match: distance < threshold); accuracy, fmr, fnmr at it.
        target_fmr / threshold_at_target / fmr_at_target / fnmr_at_target: the largest threshold whose FMR on
            these pairs is at most the target, and the rates there. fmr_resolution: 1 / different pairs,
            the smallest FMR the set can tell from 0 (a target below it is met only as "no false match seen").
        gallery_size / gallery_false_match / gallery_false_match_at_target: the chance that a stranger
            matches someone among that many enrolled people, at `threshold` and at the target's threshold.
        eer / eer_threshold: the equal error rate and where it is.
        genuine / impostor: the same pairs' and different pairs' distances (NaN: not comparable).
    """

    dataset: str
    crop: bool
    n: int
    same: int
    different: int
    threshold: float
    accuracy: stats.Interval
    fmr: stats.Interval
    fnmr: stats.Interval
    target_fmr: float
    threshold_at_target: float
    fmr_at_target: stats.Interval
    fnmr_at_target: stats.Interval
    fmr_resolution: float
    gallery_size: int
    gallery_false_match: float
    gallery_false_match_at_target: float
    eer: float
    eer_threshold: float
    missed: int
    missed_images: tuple[str, ...]
    unreadable: tuple[tuple[str, str], ...]
    genuine: tuple[float, ...]
    impostor: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `faceapi eval verification --json` (distances left out; headline figures with
        their intervals beside)."""
        def ci(i: stats.Interval) -> list[float]:
            return [i.low, i.high]
        return {
            "kind": "verification", "dataset": self.dataset, "crop": self.crop, "n": self.n, "same": self.same,
            "different": self.different, "threshold": self.threshold,
            "accuracy": self.accuracy.value, "accuracy_ci95": ci(self.accuracy),
            "fmr": self.fmr.value, "fmr_ci95": ci(self.fmr), "fnmr": self.fnmr.value, "fnmr_ci95": ci(self.fnmr),
            "target_fmr": self.target_fmr, "threshold_at_target_fmr": self.threshold_at_target,
            "fmr_at_target": self.fmr_at_target.value, "fmr_at_target_ci95": ci(self.fmr_at_target),
            "fnmr_at_target": self.fnmr_at_target.value, "fnmr_at_target_ci95": ci(self.fnmr_at_target),
            "fmr_resolution": self.fmr_resolution,
            "gallery_size": self.gallery_size, "gallery_false_match": self.gallery_false_match,
            "gallery_false_match_at_target": self.gallery_false_match_at_target,
            "gallery_note": f"chance that a stranger matches at least one of {self.gallery_size} enrolled people, "
                            "1 - (1 - FMR)^N (comparisons taken as independent)",
            "eer": self.eer, "eer_threshold": self.eer_threshold,
            "missed": self.missed, "missed_images": list(self.missed_images),
            "unreadable": len(self.unreadable),
            "unreadable_images": [{"image": p, "reason": r} for p, r in self.unreadable],
            "intervals": "95 % Wilson",
        }


def summarise_pairs(dataset: str, crop: bool, genuine: np.ndarray, impostor: np.ndarray, threshold: float,
                    target_fmr: float, gallery_size: int, missed: tuple[str, ...] = (),
                    unreadable: tuple[tuple[str, str], ...] = ()) -> VerificationEvaluation:
    """The figures from the same pairs' and different pairs' distances (NaN: a pair that cannot match)."""
    g = np.asarray(genuine, np.float64)
    i = np.asarray(impostor, np.float64)
    at = stats.error_rates(g, i, threshold)
    t_target = stats.threshold_for_fmr(i, target_fmr)
    at_target = stats.error_rates(g, i, t_target) if math.isfinite(t_target) else at
    n = g.size + i.size
    correct = (g.size - at.false_non_matches) + (i.size - at.false_matches)
    eer, eer_t = stats.equal_error_rate(g, i) if n else (math.nan, math.nan)
    return VerificationEvaluation(
        dataset=dataset, crop=crop, n=n, same=g.size, different=i.size, threshold=threshold,
        accuracy=stats.wilson_interval(correct, n),
        fmr=stats.wilson_interval(at.false_matches, i.size), fnmr=stats.wilson_interval(at.false_non_matches, g.size),
        target_fmr=target_fmr, threshold_at_target=t_target,
        fmr_at_target=stats.wilson_interval(at_target.false_matches, i.size),
        fnmr_at_target=stats.wilson_interval(at_target.false_non_matches, g.size),
        fmr_resolution=1 / i.size if i.size else math.nan, gallery_size=gallery_size,
        gallery_false_match=stats.gallery_false_match(at.fmr, gallery_size) if i.size else math.nan,
        gallery_false_match_at_target=stats.gallery_false_match(at_target.fmr, gallery_size) if i.size else math.nan,
        eer=eer, eer_threshold=eer_t, missed=len(missed), missed_images=missed, unreadable=unreadable,
        genuine=tuple(float(x) for x in g), impostor=tuple(float(x) for x in i))


def evaluate_verification(root: str | os.PathLike[str], *, crop: bool = False,
                          threshold: float = DEFAULT_DISTANCE_THRESHOLD, target_fmr: float = DEFAULT_TARGET_FMR,
                          gallery_size: int = DEFAULT_GALLERY_SIZE, analyzer: FaceAnalyzer | None = None,
                          limit: int | None = None, progress: ProgressCallback | None = None
                          ) -> VerificationEvaluation:
    """Score the descriptor on the pairs of `root` (see the module's note). `limit`: the first that many
    same and different pairs each. `progress` is called per pair.

    Raises:
        EvaluationError: no ``pairs.txt`` or a malformed one. OptionsError: a bad threshold, target or size.
    """
    from faceapi.errors import OptionsError
    from faceapi.pipeline import FaceAnalyzer

    if not 0 < threshold <= 10:
        raise OptionsError(f"threshold must be in (0, 10], got {threshold}")
    if not 0 < target_fmr < 1:
        raise OptionsError(f"target FMR must be in (0, 1), got {target_fmr}")
    if gallery_size < 1:
        raise OptionsError(f"gallery size must be >= 1, got {gallery_size}")
    pairs = lfw_pairs(root, limit=limit)
    analyzer = analyzer or FaceAnalyzer()
    base = Path(root)
    options = chain_options(descriptors=True)
    cache: dict[Path, np.ndarray | str | None] = {}
    missed: list[str] = []
    unreadable: list[tuple[str, str]] = []

    def descriptor(path: Path) -> np.ndarray | None:
        if path not in cache:
            name = str(path.relative_to(base))
            img = read_image(path, analyzer)
            found: np.ndarray | str | None
            if isinstance(img, str):
                found = img
                unreadable.append((name, img))
            elif crop:
                found = analyzer.recognition_net().predict([img])[0]
            else:
                face = largest_face(analyzer.analyze(img, options).faces)
                found = None if face is None else face.descriptor
                if found is None:
                    missed.append(name)
            cache[path] = found
        d = cache[path]
        return d if isinstance(d, np.ndarray) else None

    genuine: list[float] = []
    impostor: list[float] = []
    for pair in pairs:
        a, b = descriptor(pair.first), descriptor(pair.second)
        dist = euclidean_distance(a, b) if a is not None and b is not None else math.nan
        (genuine if pair.same else impostor).append(dist)
        if progress:
            progress(1)
    return summarise_pairs(str(root), crop, np.array(genuine), np.array(impostor), threshold, target_fmr,
                           gallery_size, tuple(missed), tuple(unreadable))


__all__ = ["DEFAULT_GALLERY_SIZE", "DEFAULT_TARGET_FMR", "VerificationEvaluation", "evaluate_verification",
           "summarise_pairs"]
