"""Measuring liveness (`faceapi eval liveness DIR`): presentation-attack error rates on a folder of live faces
(``DIR/real/``) and attacks (``DIR/attack/``), ISO/IEC 30107-3's terms:

* APCER: the share of attacks accepted as live (score >= threshold);
* BPCER: the share of live ("bona fide") faces rejected (score < threshold);
* ACER: their mean; EER: where the two are equal (threshold-free: the nets are not fitted on the set).

Each image's best-scoring face is judged (upstream judges one face an image). An image where the detector
finds no face is a failure of the check in both classes: a live face missed is rejected, an attack missed
counts as accepted (pessimistic: it is not shown as stopped when the check never ran). Their counts are
reported apart.

Subjects: the first ``_``-separated part of a file name (NUAA's ``0001_...``). Held-out figures: for each
subject, the threshold is fitted on the other subjects' images only (the APCER-target rule) and the
subject's images are judged with it; the counts are pooled over all subjects (`held_out`).

The small statistics here (``liveness_*``) are local so that they can be folded into
`faceapi.evaluation.stats` (its ``error_rates``/``det_curve`` take distances: pass ``-score``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi.errors import OptionsError

if TYPE_CHECKING:
    from faceapi.options import DetectorOptions
    from faceapi.pipeline import FaceAnalyzer

#: The two sub-folders of a liveness set, and whether their images are attacks.
CLASSES: tuple[tuple[str, bool], ...] = (("real", False), ("attack", True))
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
#: The APCER `faceapi eval liveness` reports the threshold for unless told otherwise.
DEFAULT_APCER_TARGET = 0.01


@dataclass(frozen=True)
class LivenessItem:
    """One image: its path, subject, class, and the liveness score of its best face (None: no face found)."""

    path: str
    subject: str
    attack: bool
    score: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "subject": self.subject, "attack": self.attack, "score": self.score}


def subject_of(path: str | os.PathLike[str]) -> str:
    """The subject of an image: the first ``_``-separated part of its name (NUAA: ``0001_0001_...``)."""
    return Path(path).name.split("_", 1)[0]


def liveness_images(folder: str | os.PathLike[str]) -> list[tuple[Path, bool]]:
    """The images of a liveness set, ``(path, is_attack)``, real first, each class sorted by name.

    Raises:
        OptionsError: `folder` lacks ``real/`` or ``attack/``, or one of them has no images.
    """
    root = Path(folder)
    out: list[tuple[Path, bool]] = []
    for name, attack in CLASSES:
        sub = root / name
        if not sub.is_dir():
            raise OptionsError(f"{root}: expected sub-folders real/ and attack/; {sub} is missing")
        images = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise OptionsError(f"{sub}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        out.extend((p, attack) for p in images)
    return out


def score_images(analyzer: FaceAnalyzer, images: Sequence[tuple[Path, bool]], detector: DetectorOptions | None = None,
                 progress: Callable[[int, int], None] | None = None) -> list[LivenessItem]:
    """The liveness score of each image's best-scoring face (`FaceAnalyzer.analyze` with ``single`` and
    ``liveness``); `progress(done, total)` after each image."""
    from faceapi.options import AnalyzeOptions, SsdMobilenetv1Options

    options = AnalyzeOptions(detector=detector or SsdMobilenetv1Options(), single=True, liveness=True)
    items = []
    for i, (path, attack) in enumerate(images):
        faces = analyzer.analyze(str(path), options).faces
        verdict = faces[0].liveness if faces else None
        items.append(LivenessItem(str(path), subject_of(path), attack, None if verdict is None else verdict.score))
        if progress:
            progress(i + 1, len(images))
    return items


# -- statistics (scores: higher = live; a missed face is -inf if live, +inf if an attack) ----------------
def liveness_scores_by_class(items: Sequence[LivenessItem]) -> tuple[np.ndarray, np.ndarray]:
    """``(real, attack)`` score arrays, a missed face as the score that fails the check (-inf / +inf)."""
    real = np.array([-math.inf if it.score is None else it.score for it in items if not it.attack], np.float64)
    attack = np.array([math.inf if it.score is None else it.score for it in items if it.attack], np.float64)
    return real, attack


def liveness_error_rates(real: np.ndarray, attack: np.ndarray, threshold: float) -> tuple[float, float]:
    """``(APCER, BPCER)`` at `threshold` (live when score >= threshold); NaN for an empty class."""
    apcer = float(np.mean(attack >= threshold)) if attack.size else math.nan
    bpcer = float(np.mean(real < threshold)) if real.size else math.nan
    return apcer, bpcer


def liveness_det_curve(real: np.ndarray, attack: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(thresholds, APCER, BPCER)`` at every threshold where a decision changes (each distinct finite
    score, and one above them all), thresholds ascending: APCER falls, BPCER rises."""
    finite = np.concatenate([real[np.isfinite(real)], attack[np.isfinite(attack)]])
    top = float(np.nextafter(finite.max(), math.inf)) if finite.size else 1.0
    thresholds = np.unique(np.append(finite, top))
    attack_sorted, real_sorted = np.sort(attack), np.sort(real)
    apcer = 1 - np.searchsorted(attack_sorted, thresholds, side="left") / max(attack.size, 1)
    bpcer = np.searchsorted(real_sorted, thresholds, side="left") / max(real.size, 1)
    return thresholds, apcer, bpcer


def liveness_eer(real: np.ndarray, attack: np.ndarray) -> tuple[float, float]:
    """``(EER, threshold)``: the threshold where APCER and BPCER are closest, and their mean there."""
    thresholds, apcer, bpcer = liveness_det_curve(real, attack)
    i = int(np.argmin(np.abs(apcer - bpcer)))
    return float((apcer[i] + bpcer[i]) / 2), float(thresholds[i])


def liveness_threshold_for_apcer(real: np.ndarray, attack: np.ndarray, target: float) -> float:
    """A threshold whose APCER is at most `target` that rejects the fewest live faces: the middle of the
    lowest such range of thresholds.

    Attacks whose face was missed (+inf) count as accepted at every threshold: when they alone exceed
    `target`, the target becomes their share (no threshold can do better; the one that rejects every
    attack that was seen is returned, not one that rejects every face)."""
    if not 0 <= target <= 1:
        raise OptionsError(f"the APCER target must be in [0, 1], got {target}")
    floor = float(np.mean(np.isposinf(attack))) if attack.size else 0.0
    thresholds, apcer, _ = liveness_det_curve(real, attack)
    ok = np.flatnonzero(apcer <= max(target, floor) + 1e-12)
    i = int(ok[0]) if ok.size else len(thresholds) - 1
    # every threshold in (thresholds[i - 1], thresholds[i]] makes the same decisions here: take the middle,
    # as far from the attack below as from the live face above
    return float((thresholds[i - 1] + thresholds[i]) / 2) if i > 0 else float(thresholds[i])


# -- results ------------------------------------------------------------------------------------------------
def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class LivenessRates:
    """The decisions at one threshold: attacks accepted and live faces rejected, as counts and rates."""

    threshold: float
    attacks: int
    attacks_accepted: int
    real: int
    real_rejected: int

    @property
    def apcer(self) -> float:
        return self.attacks_accepted / self.attacks if self.attacks else math.nan

    @property
    def bpcer(self) -> float:
        return self.real_rejected / self.real if self.real else math.nan

    @property
    def acer(self) -> float:
        return (self.apcer + self.bpcer) / 2

    @classmethod
    def at(cls, real: np.ndarray, attack: np.ndarray, threshold: float) -> LivenessRates:
        return cls(float(threshold), int(attack.size), int(np.sum(attack >= threshold)), int(real.size),
                   int(np.sum(real < threshold)))

    def __add__(self, other: LivenessRates) -> LivenessRates:
        """Pooled counts (the threshold is kept only when both share it; NaN otherwise)."""
        t = self.threshold if self.threshold == other.threshold else math.nan
        return LivenessRates(t, self.attacks + other.attacks, self.attacks_accepted + other.attacks_accepted,
                             self.real + other.real, self.real_rejected + other.real_rejected)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": _num(self.threshold), "apcer": _num(self.apcer), "bpcer": _num(self.bpcer),
                "acer": _num(self.acer), "attacks": self.attacks, "attacks_accepted": self.attacks_accepted,
                "real": self.real, "real_rejected": self.real_rejected}


@dataclass(frozen=True)
class HeldOutLiveness:
    """Leave-one-subject-out: per subject, the threshold fitted (APCER <= `apcer_target`) on the others, and
    that subject's decisions with it; `rates` pools them; `eer_max` is the worst subject's own EER."""

    apcer_target: float
    thresholds: dict[str, float]
    per_subject: dict[str, LivenessRates]
    rates: LivenessRates
    eer_max: float

    def to_dict(self) -> dict[str, Any]:
        return {"rule": f"threshold = lowest with APCER <= {self.apcer_target:g} on the other subjects",
                "apcer_target": self.apcer_target, **self.rates.to_dict(), "threshold": None,
                "thresholds": self.thresholds, "per_subject": {s: r.to_dict() for s, r in self.per_subject.items()},
                "eer_max_subject": _num(self.eer_max)}


@dataclass(frozen=True)
class LivenessReport:
    """`faceapi eval liveness`'s figures for one folder."""

    folder: str
    real: int
    attacks: int
    missed_real: int
    missed_attacks: int
    at_threshold: LivenessRates
    eer: float
    eer_threshold: float
    apcer_target: float
    at_target: LivenessRates
    held_out: HeldOutLiveness | None
    items: tuple[LivenessItem, ...] = field(repr=False)

    def to_dict(self, items: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "folder": self.folder, "real": self.real, "attacks": self.attacks, "missed_real": self.missed_real,
            "missed_attacks": self.missed_attacks, "missed_note": "a missed face fails the check: a live one is "
            "rejected, an attack counts as accepted",
            "at_threshold": self.at_threshold.to_dict(), "eer": _num(self.eer),
            "eer_threshold": _num(self.eer_threshold), "apcer_target": self.apcer_target,
            "at_apcer_target": self.at_target.to_dict(),
            "held_out": self.held_out.to_dict() if self.held_out is not None else None,
        }
        if items:
            d["items"] = [it.to_dict() for it in self.items]
        return d


def held_out_liveness(items: Sequence[LivenessItem], apcer_target: float) -> HeldOutLiveness | None:
    """Leave-one-subject-out figures (None with fewer than two subjects)."""
    subjects = sorted({it.subject for it in items})
    if len(subjects) < 2:
        return None
    thresholds: dict[str, float] = {}
    per: dict[str, LivenessRates] = {}
    eers = []
    for s in subjects:
        train_real, train_attack = liveness_scores_by_class([it for it in items if it.subject != s])
        test_real, test_attack = liveness_scores_by_class([it for it in items if it.subject == s])
        t = liveness_threshold_for_apcer(train_real, train_attack, apcer_target)
        thresholds[s] = t
        per[s] = LivenessRates.at(test_real, test_attack, t)
        if test_real.size and test_attack.size:
            eers.append(liveness_eer(test_real, test_attack)[0])
    pooled = LivenessRates(math.nan, 0, 0, 0, 0)
    for r in per.values():
        pooled = pooled + r
    return HeldOutLiveness(apcer_target, thresholds, per, pooled, max(eers) if eers else math.nan)


def evaluate_liveness(items: Sequence[LivenessItem], threshold: float, apcer_target: float = DEFAULT_APCER_TARGET,
                      folder: str = "") -> LivenessReport:
    """The report for scored images: rates at `threshold`, the EER, the threshold for `apcer_target`, and
    the leave-one-subject-out figures."""
    real, attack = liveness_scores_by_class(items)
    eer, eer_t = liveness_eer(real, attack)
    t_target = liveness_threshold_for_apcer(real, attack, apcer_target)
    return LivenessReport(
        folder=folder, real=int(real.size), attacks=int(attack.size),
        missed_real=sum(1 for it in items if not it.attack and it.score is None),
        missed_attacks=sum(1 for it in items if it.attack and it.score is None),
        at_threshold=LivenessRates.at(real, attack, threshold), eer=eer, eer_threshold=eer_t,
        apcer_target=apcer_target, at_target=LivenessRates.at(real, attack, t_target),
        held_out=held_out_liveness(items, apcer_target), items=tuple(items))


# -- the chart ----------------------------------------------------------------------------------------------
#: Scores below this are drawn at it on the histogram's log axis; rates below this at it on the DET's.
_SCORE_FLOOR = 1e-7
_RATE_FLOOR = 1e-3
_REAL_COLOR = (46, 125, 50)
_ATTACK_COLOR = (198, 40, 40)


def plot_liveness(report: LivenessReport, path: str | os.PathLike[str]) -> None:
    """A PNG (drawn with Pillow): left, the histograms of the live and attack scores on a log axis with the
    threshold; right, the DET curve (BPCER against APCER, log axes) with the threshold's point. Missed faces
    are not in the histograms (the title counts them); they are in the DET curve's rates."""
    from PIL import Image, ImageDraw

    from faceapi.draw import label_font
    from faceapi.fileio import atomic_open

    width, height, pad = 1200, 520, 60
    im = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(im)
    font, small = label_font(16), label_font(13)
    panel_w = (width - 3 * pad) // 2
    top, bottom = pad, height - pad
    t = report.at_threshold
    d.text((pad, 12), f"liveness on {report.folder or 'the set'}: {report.real} live, {report.attacks} attacks "
           f"({report.missed_real} / {report.missed_attacks} faces missed); threshold {t.threshold:g}: APCER "
           f"{t.apcer:.4f}, BPCER {t.bpcer:.4f}; EER {report.eer:.4f}", fill="black", font=font)

    # histograms: log10(score) in [log10(floor), 0]
    x0, x1 = pad, pad + panel_w
    lo = math.log10(_SCORE_FLOOR)
    bins = 35
    real, attack = liveness_scores_by_class(report.items)

    def to_bin(v: np.ndarray) -> np.ndarray:
        v = v[np.isfinite(v)]
        pos = (np.log10(np.clip(v, _SCORE_FLOOR, 1.0)) - lo) / -lo
        index: np.ndarray = np.minimum((pos * bins).astype(int), bins - 1)
        return index

    counts = {c: np.bincount(to_bin(v), minlength=bins) for c, v in ((_REAL_COLOR, real), (_ATTACK_COLOR, attack))}
    peak = max(1, *(int(c.max()) for c in counts.values()))
    bw = panel_w / bins
    for color, c in counts.items():
        for b, n in enumerate(c):
            if n:
                bx = x0 + b * bw
                d.rectangle([bx + 1, bottom - (bottom - top) * n / peak, bx + bw - 1, bottom], outline=color, width=2)
    d.line([x0, bottom, x1, bottom], fill="black")
    for e in range(int(lo), 1):
        x = x0 + (e - lo) / -lo * panel_w
        d.line([x, bottom, x, bottom + 5], fill="black")
        d.text((x - 12, bottom + 8), f"1e{e}", fill="black", font=small)
    tx = x0 + (math.log10(max(t.threshold, _SCORE_FLOOR)) - lo) / -lo * panel_w
    d.line([tx, top, tx, bottom], fill=(33, 33, 33), width=2)
    d.text((x0, top - 20), f"score histogram (peak bin {peak}); green live, red attack; line: threshold",
           fill="black", font=small)

    # DET: log10 rates in [-3, 0]
    ox = 2 * pad + panel_w
    rlo = math.log10(_RATE_FLOOR)

    def px(rate: float) -> float:
        return ox + (math.log10(max(rate, _RATE_FLOOR)) - rlo) / -rlo * panel_w

    def py(rate: float) -> float:
        return bottom - (math.log10(max(rate, _RATE_FLOOR)) - rlo) / -rlo * (bottom - top)

    _, apcer, bpcer = liveness_det_curve(real, attack)
    d.rectangle([ox, top, ox + panel_w, bottom], outline="black")
    d.line([(px(a), py(b)) for a, b in zip(apcer, bpcer)], fill=(21, 101, 192), width=3)
    d.line([px(_RATE_FLOOR), py(_RATE_FLOOR), px(1), py(1)], fill=(189, 189, 189))  # APCER = BPCER
    d.ellipse([px(t.apcer) - 6, py(t.bpcer) - 6, px(t.apcer) + 6, py(t.bpcer) + 6], outline=(33, 33, 33), width=3)
    for e in range(int(rlo), 1):
        d.text((px(10.0**e) - 12, bottom + 8), f"1e{e}", fill="black", font=small)
        d.text((ox - 40, py(10.0**e) - 8), f"1e{e}", fill="black", font=small)
    d.text((ox, top - 20), f"DET: BPCER (up) against APCER (right), rates under {_RATE_FLOOR:g} drawn at it; "
           f"circle: threshold", fill="black", font=small)
    with atomic_open(path) as f:
        im.save(f, format="PNG")


__all__ = ["DEFAULT_APCER_TARGET", "HeldOutLiveness", "LivenessItem", "LivenessRates", "LivenessReport",
           "evaluate_liveness", "held_out_liveness", "liveness_det_curve", "liveness_eer", "liveness_error_rates",
           "liveness_images", "liveness_scores_by_class", "liveness_threshold_for_apcer", "plot_liveness",
           "score_images", "subject_of"]
