"""Matching descriptors: face-api.js's `euclideanDistance`, `LabeledFaceDescriptors` and `FaceMatcher`
(spec 5.10), vectorised with numpy so that matching stays fast against many stored descriptors.

All references live in one contiguous float32 ``(N, 128)`` matrix, grouped by person, with precomputed
squared norms. Matching a batch of queries is one matrix product (``|q - r|^2 = |q|^2 + |r|^2 - 2 q.r``),
a per-person ``reduceat`` (mean or min), then an exact float64 recomputation of the few people whose fast
distance is within a small margin of the best, so labels and distances are face-api.js's (double precision
``Math.sqrt`` of the summed squared differences), not float32 approximations.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from faceapi.errors import OptionsError
from faceapi.options import DEFAULT_DISTANCE_THRESHOLD, MATCH_STRATEGIES, MatchStrategy
from faceapi.results import FaceMatch

#: The fast float32 distances are within this of the exact ones (far inside, for descriptors of norm ~1.5:
#: measured errors are ~1e-6 at distance 0.4). People within it of the best are recomputed exactly.
_REFINE_MARGIN = 1e-3
#: Queries are matched in chunks so that the (chunk x N) distance matrix stays under this many elements.
_CHUNK_ELEMENTS = 1 << 22


def euclidean_distance(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """``sqrt(sum((a_i - b_i)^2))`` in float64. Raises OptionsError (a ValueError) when the lengths differ."""
    a64 = np.asarray(a, dtype=np.float64).ravel()
    b64 = np.asarray(b, dtype=np.float64).ravel()
    if a64.shape != b64.shape:
        raise OptionsError(f"euclidean_distance: arrays have different lengths ({a64.size} and {b64.size})")
    return float(np.sqrt(np.sum((a64 - b64) ** 2)))


@dataclass(frozen=True, eq=False)
class LabeledFaceDescriptors:
    """A label (a person's name) and one or more 128-d descriptors of that person."""

    label: str
    descriptors: tuple[np.ndarray, ...]

    def __init__(self, label: str, descriptors: Iterable[Sequence[float] | np.ndarray]):
        if not isinstance(label, str):
            raise OptionsError(f"LabeledFaceDescriptors: label must be a string, got {type(label).__name__}")
        descs = tuple(np.asarray(d, dtype=np.float32).ravel() for d in descriptors)
        if not descs:
            raise OptionsError(f"LabeledFaceDescriptors {label!r}: needs at least one descriptor")
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "descriptors", descs)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "descriptors": [d.tolist() for d in self.descriptors]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabeledFaceDescriptors:
        return cls(d["label"], d["descriptors"])


class MatcherSource(Protocol):
    """Whom faces are recognised against: gives a `FaceMatcher` for a threshold and strategy
    (`FaceMatcher` itself, and `faceapi.gallery.Gallery`)."""

    def matcher(self, distance_threshold: float, strategy: str) -> FaceMatcher: ...


class FaceMatcher:
    """Finds the best-matching label for a descriptor.

    Args:
        references: LabeledFaceDescriptors, or bare descriptors (labelled "person 1", "person 2", ...).
        distance_threshold: a best match at this distance or more is "unknown" (face-api.js: 0.6).
        strategy: "mean" (face-api.js: mean distance to each person's descriptors) or "nearest"
            (distance to each person's closest descriptor).

    `FaceMatcher.from_arrays` builds one straight from a matrix (what `faceapi.gallery` does), without a
    numpy object per descriptor.
    """

    _labeled: list[LabeledFaceDescriptors] | None  # built on first use for `from_arrays` matchers

    def __init__(self, references: Iterable[LabeledFaceDescriptors | Sequence[float] | np.ndarray],
                 distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD, strategy: MatchStrategy | str = "mean"):
        labeled: list[LabeledFaceDescriptors] = []
        for i, ref in enumerate(references, start=1):
            labeled.append(ref if isinstance(ref, LabeledFaceDescriptors)
                           else LabeledFaceDescriptors(f"person {i}", [ref]))
        if labeled:
            matrix = np.concatenate([np.stack(ld.descriptors) for ld in labeled])
        else:
            matrix = np.zeros((0, 128), dtype=np.float32)
        self._setup([ld.label for ld in labeled], matrix, [len(ld.descriptors) for ld in labeled],
                    distance_threshold, strategy)
        self._labeled = labeled

    @classmethod
    def from_arrays(cls, labels: Sequence[str], matrix: np.ndarray, counts: Sequence[int] | np.ndarray,
                    distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD,
                    strategy: MatchStrategy | str = "mean") -> FaceMatcher:
        """A matcher over ``matrix`` (``(N, D)``), whose rows are grouped by person: the first ``counts[0]``
        rows are ``labels[0]``'s, the next ``counts[1]`` ``labels[1]``'s, and so on (each count >= 1)."""
        obj = cls.__new__(cls)
        obj._setup(list(labels), matrix, list(counts), distance_threshold, strategy)
        obj._labeled = None
        return obj

    def _setup(self, labels: list[str], matrix: np.ndarray, counts: list[int], distance_threshold: float,
               strategy: MatchStrategy | str) -> None:
        if strategy not in MATCH_STRATEGIES:
            raise OptionsError(f"FaceMatcher: strategy must be 'mean' or 'nearest', got {strategy!r}")
        matrix = np.ascontiguousarray(np.asarray(matrix, dtype=np.float32))
        if matrix.ndim != 2:
            raise OptionsError(f"FaceMatcher: reference matrix must be 2-d, got shape {matrix.shape}")
        counts_a = np.asarray(counts, dtype=np.intp)
        if len(labels) != len(counts_a) or int(counts_a.sum()) != matrix.shape[0] or (counts_a < 1).any():
            raise OptionsError(f"FaceMatcher: {len(labels)} labels with counts summing to {int(counts_a.sum())} "
                             f"do not fit {matrix.shape[0]} reference rows (every label needs >= 1 row)")
        self.distance_threshold = distance_threshold
        self.strategy = strategy
        self._labels = labels
        self._matrix = matrix
        self._sqnorm = np.einsum("ij,ij->i", matrix, matrix)
        self._counts = counts_a
        self._starts = np.concatenate([[0], np.cumsum(counts_a)[:-1]]).astype(np.intp) if len(counts_a) else counts_a

    # -- inspection ---------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """The labels, in reference order."""
        return list(self._labels)

    @property
    def labeled(self) -> list[LabeledFaceDescriptors]:
        """The references as LabeledFaceDescriptors (built on first use for `from_arrays` matchers)."""
        if self._labeled is None:
            self._labeled = [LabeledFaceDescriptors(label, self._matrix[s : s + c])
                             for label, s, c in zip(self._labels, self._starts, self._counts)]
        return self._labeled

    @property
    def num_descriptors(self) -> int:
        return int(self._matrix.shape[0])

    def __len__(self) -> int:
        return len(self._labels)

    def matcher(self, distance_threshold: float, strategy: str) -> FaceMatcher:
        """This matcher with another threshold or strategy (itself when both are the same): a
        `MatcherSource`, so a FaceMatcher can be given wherever a gallery can."""
        if distance_threshold == self.distance_threshold and strategy == self.strategy:
            return self
        if strategy not in MATCH_STRATEGIES:
            raise OptionsError(f"FaceMatcher: strategy must be 'mean' or 'nearest', got {strategy!r}")
        # a shallow copy sharing the references and the arrays derived from them: a matcher per threshold
        # costs a few hundred bytes, not a copy of the gallery's index (a server is asked for any threshold)
        other = copy.copy(self)
        other.distance_threshold = distance_threshold
        other.strategy = strategy
        return other

    # -- matching -----------------------------------------------------------------------------------
    def _queries(self, descriptors: np.ndarray) -> np.ndarray:
        q = np.atleast_2d(np.asarray(descriptors, dtype=np.float64))
        if q.ndim != 2 or (self._labels and q.shape[1] != self._matrix.shape[1]):
            raise OptionsError(f"FaceMatcher: descriptors have shape {q.shape}, references have "
                             f"{self._matrix.shape[1]} values each")
        return q

    def _fast(self, q: np.ndarray) -> np.ndarray:
        """``(Q, P)`` per-person distances from float32 arithmetic (within ~1e-5 of the exact ones)."""
        n = self._matrix.shape[0]
        out = np.empty((q.shape[0], len(self._labels)))
        step = max(1, _CHUNK_ELEMENTS // max(n, 1))
        q32 = q.astype(np.float32)
        for lo in range(0, q.shape[0], step):
            qc = q32[lo : lo + step]
            sq = self._sqnorm[None, :] - 2.0 * (qc @ self._matrix.T)
            sq += np.einsum("ij,ij->i", qc, qc)[:, None]
            np.maximum(sq, 0.0, out=sq)
            d = np.sqrt(sq, out=sq)
            if self.strategy == "mean":
                per = np.add.reduceat(d, self._starts, axis=1, dtype=np.float64) / self._counts[None, :]
            else:
                per = np.minimum.reduceat(d, self._starts, axis=1)
            out[lo : lo + step] = per
        # a reference that is not a real descriptor (NaN, or so large that float32 overflows) is infinitely
        # far, not a NaN that would make every comparison false and fail every match
        np.nan_to_num(out, copy=False, nan=np.inf)
        return out

    def _exact(self, q: np.ndarray, people: np.ndarray) -> np.ndarray:
        """face-api.js's distances (float64 ``sqrt`` of summed squared differences, then the mean or min over
        each person's rows) of one query to the people `people` (ascending indices)."""
        starts, counts = self._starts[people], self._counts[people]
        if len(people) == 1:
            rows = self._matrix[int(starts[0]) : int(starts[0] + counts[0])]
        else:
            rows = self._matrix[np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts)])]
        d = np.sqrt(((rows.astype(np.float64) - q[None, :]) ** 2).sum(axis=1))
        local = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
        per: np.ndarray = (np.add.reduceat(d, local) / counts if self.strategy == "mean"
                           else np.minimum.reduceat(d, local))
        np.nan_to_num(per, copy=False, nan=np.inf)
        return per

    def distances(self, descriptors: np.ndarray) -> np.ndarray:
        """``(Q, P)`` distance of each query descriptor to each person under the strategy (fast float32
        arithmetic, within ~1e-5 of the exact values; `match_descriptors` reports exact ones)."""
        q = self._queries(descriptors)
        if not self._labels:
            return np.zeros((q.shape[0], 0))
        return self._fast(q)

    def match_descriptors(self, descriptors: np.ndarray) -> list[FaceMatch]:
        """Best match for each row of a ``(Q, 128)`` array ("unknown" at or beyond the threshold)."""
        q = self._queries(descriptors)
        if not self._labels:
            return [FaceMatch("unknown", float("inf")) for _ in range(q.shape[0])]
        fast = self._fast(q)
        out = []
        for qi, row in zip(q, fast):
            candidates = np.flatnonzero(row <= row.min() + _REFINE_MARGIN)
            exact = self._exact(qi, candidates)
            # face-api.js's reduce keeps the earlier label only when strictly smaller: ties -> the later label
            k = len(exact) - 1 - int(np.argmin(exact[::-1]))
            best, dist = int(candidates[k]), float(exact[k])
            out.append(FaceMatch(self._labels[best], dist) if dist < self.distance_threshold
                       else FaceMatch("unknown", dist))
        return out

    def nearest(self, descriptor: Sequence[float] | np.ndarray, k: int | None = None) -> list[FaceMatch]:
        """The `k` people nearest to one descriptor (all when None), nearest first, each with face-api.js's
        exact distance under the strategy (as `match_descriptors` reports it; never "unknown": compare the
        distances with `distance_threshold` yourself). Ties keep the reference order."""
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise OptionsError(f"FaceMatcher.nearest: k must be a whole number >= 1 or None, got {k!r}")
        q = self._queries(np.asarray(descriptor, dtype=np.float64).ravel())
        if not self._labels:
            return []
        fast = self._fast(q)[0]
        n = len(self._labels) if k is None else min(k, len(self._labels))
        # the n-th fast distance, plus the margin, bounds every person who can be among the exact n nearest
        cutoff = np.sort(fast)[n - 1] + _REFINE_MARGIN
        candidates = np.flatnonzero(fast <= cutoff) if np.isfinite(cutoff) else np.arange(len(self._labels))
        exact = self._exact(q[0], candidates)
        order = np.argsort(exact, kind="stable")[:n]
        return [FaceMatch(self._labels[int(candidates[i])], float(exact[i])) for i in order]

    def find_best_match(self, descriptor: Sequence[float] | np.ndarray) -> FaceMatch:
        """face-api.js ``findBestMatch``: the closest label, or "unknown" at or beyond the threshold."""
        return self.match_descriptors(np.asarray(descriptor, dtype=np.float64)[None, :])[0]

    def to_dict(self) -> dict[str, Any]:
        return {"distance_threshold": self.distance_threshold,
                "labeled_descriptors": [ld.to_dict() for ld in self.labeled]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaceMatcher:
        return cls([LabeledFaceDescriptors.from_dict(x) for x in d["labeled_descriptors"]],
                   d.get("distance_threshold", DEFAULT_DISTANCE_THRESHOLD))
