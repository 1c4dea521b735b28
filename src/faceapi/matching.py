"""Matching descriptors: face-api.js's `euclideanDistance`, `LabeledFaceDescriptors` and `FaceMatcher`
(spec 5.10), vectorised with numpy so that matching stays fast against many stored descriptors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from faceapi.results import FaceMatch

DEFAULT_DISTANCE_THRESHOLD = 0.6


def euclidean_distance(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """``sqrt(sum((a_i - b_i)^2))`` in float64. Raises ValueError when the lengths differ."""
    a64 = np.asarray(a, dtype=np.float64).ravel()
    b64 = np.asarray(b, dtype=np.float64).ravel()
    if a64.shape != b64.shape:
        raise ValueError(f"euclidean_distance: arrays have different lengths ({a64.size} and {b64.size})")
    return float(np.sqrt(np.sum((a64 - b64) ** 2)))


@dataclass(frozen=True, eq=False)
class LabeledFaceDescriptors:
    """A label (a person's name) and one or more 128-d descriptors of that person."""

    label: str
    descriptors: tuple[np.ndarray, ...]

    def __init__(self, label: str, descriptors: Iterable[Sequence[float] | np.ndarray]):
        if not isinstance(label, str):
            raise TypeError(f"LabeledFaceDescriptors: label must be a string, got {type(label).__name__}")
        descs = tuple(np.asarray(d, dtype=np.float32).ravel() for d in descriptors)
        if not descs:
            raise ValueError(f"LabeledFaceDescriptors {label!r}: needs at least one descriptor")
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "descriptors", descs)

    def to_dict(self) -> dict:
        return {"label": self.label, "descriptors": [d.tolist() for d in self.descriptors]}

    @classmethod
    def from_dict(cls, d: dict) -> LabeledFaceDescriptors:
        return cls(d["label"], d["descriptors"])


class FaceMatcher:
    """Finds the best-matching label for a descriptor.

    Args:
        references: LabeledFaceDescriptors, or bare descriptors (labelled "person 1", "person 2", ...).
        distance_threshold: a best match at this distance or more is "unknown" (face-api.js: 0.6).
        strategy: "mean" (face-api.js: mean distance to each person's descriptors) or "nearest"
            (distance to each person's closest descriptor).
    """

    def __init__(self, references: Iterable[LabeledFaceDescriptors | Sequence[float] | np.ndarray],
                 distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD, strategy: str = "mean"):
        if strategy not in ("mean", "nearest"):
            raise ValueError(f"FaceMatcher: strategy must be 'mean' or 'nearest', got {strategy!r}")
        labeled: list[LabeledFaceDescriptors] = []
        for i, ref in enumerate(references, start=1):
            labeled.append(ref if isinstance(ref, LabeledFaceDescriptors)
                           else LabeledFaceDescriptors(f"person {i}", [ref]))
        self.labeled = labeled
        self.distance_threshold = distance_threshold
        self.strategy = strategy
        if labeled:
            self._matrix = np.concatenate([np.stack(ld.descriptors) for ld in labeled]).astype(np.float64)
            self._owner = np.concatenate([np.full(len(ld.descriptors), k) for k, ld in enumerate(labeled)])
            self._counts = np.bincount(self._owner, minlength=len(labeled)).astype(np.float64)
        else:
            self._matrix = np.zeros((0, 128))
            self._owner = np.zeros(0, dtype=np.intp)
            self._counts = np.zeros(0)

    def distances(self, descriptors: np.ndarray) -> np.ndarray:
        """``(Q, P)`` distance of each query descriptor to each person under the strategy."""
        q = np.atleast_2d(np.asarray(descriptors, dtype=np.float64))
        if q.shape[1] != self._matrix.shape[1]:
            raise ValueError(f"FaceMatcher: descriptors have {q.shape[1]} values, references {self._matrix.shape[1]}")
        # |q - r|^2 = |q|^2 + |r|^2 - 2 q.r, clipped at 0 against rounding
        sq = (q * q).sum(1)[:, None] + (self._matrix * self._matrix).sum(1)[None, :] - 2 * q @ self._matrix.T
        d = np.sqrt(np.maximum(sq, 0.0))
        per_person = np.zeros((q.shape[0], len(self.labeled)))
        if self.strategy == "mean":
            np.add.at(per_person.T, self._owner, d.T)
            per_person /= np.maximum(self._counts, 1)[None, :]
        else:
            per_person[:] = np.inf
            np.minimum.at(per_person.T, self._owner, d.T)
        return per_person

    def match_descriptors(self, descriptors: np.ndarray) -> list[FaceMatch]:
        """Best match for each row of a ``(Q, 128)`` array ("unknown" beyond the threshold)."""
        if not self.labeled:
            q = np.atleast_2d(descriptors)
            return [FaceMatch("unknown", float("inf")) for _ in range(q.shape[0])]
        per_person = self.distances(descriptors)
        out = []
        for row in per_person:
            # face-api.js's reduce keeps the earlier label only when strictly smaller: ties -> the later label
            best = len(row) - 1 - int(np.argmin(row[::-1]))
            dist = float(row[best])
            out.append(FaceMatch(self.labeled[best].label, dist) if dist < self.distance_threshold
                       else FaceMatch("unknown", dist))
        return out

    def find_best_match(self, descriptor: Sequence[float] | np.ndarray) -> FaceMatch:
        """face-api.js ``findBestMatch``: the closest label, or "unknown" at or beyond the threshold."""
        return self.match_descriptors(np.asarray(descriptor, dtype=np.float64)[None, :])[0]

    def to_dict(self) -> dict:
        return {"distance_threshold": self.distance_threshold,
                "labeled_descriptors": [ld.to_dict() for ld in self.labeled]}

    @classmethod
    def from_dict(cls, d: dict) -> FaceMatcher:
        return cls([LabeledFaceDescriptors.from_dict(x) for x in d["labeled_descriptors"]],
                   d.get("distance_threshold", DEFAULT_DISTANCE_THRESHOLD))
