"""Face tracks across video frames: IoU with the previous frame, descriptors to re-identify a face after a
short loss, and expression probabilities smoothed per track over a sliding window.

`Tracker.update(faces, time)` is called once per analysed frame, in order; it returns one `TrackedFace`
per face (same order) with the track id and, when the face has expressions, the smoothed probabilities.

Matching, per frame:

1. IoU: every track seen in the previous analysed frame against every face; pairs with IoU >=
   ``iou_threshold`` are taken greedily, highest IoU first.
2. Descriptors (when the faces have them): a face left over is compared with the tracks not matched in
   step 1 that were seen within ``reid_seconds`` (including ones lost for a few frames); the nearest
   track's mean descriptor within ``reid_distance`` (Euclidean, face-api.js's 0.6 by default) takes it.
   Without descriptors a track lost for even one frame is not picked up again.
3. Any face still unmatched starts a new track. Ids count up from 1 and are never reused.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from faceapi.errors import OptionsError
from faceapi.results import EXPRESSION_LABELS, Box, Face


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty).

    Kept here until `Box.iou` lands with the engine's geometry (issue 9, item 7); this tracker is to be
    replaced by the one tracker of the live stream and videos anyway."""
    iw = min(a.right, b.right) - max(a.x, b.x)
    ih = min(a.bottom, b.bottom) - max(a.y, b.y)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    """One face followed over time."""

    id: int
    box: Box
    last_frame: int  # index (in update calls) of the last frame the face was seen in
    last_time: float
    first_time: float
    hits: int = 1
    descriptors: deque[np.ndarray] = field(default_factory=lambda: deque(maxlen=10))
    expressions: deque[np.ndarray] = field(default_factory=deque)

    @property
    def mean_descriptor(self) -> np.ndarray | None:
        if not self.descriptors:
            return None
        mean: np.ndarray = np.mean(np.stack(self.descriptors), axis=0)
        return mean


@dataclass(frozen=True)
class TrackedFace:
    """A face of a frame with its track id and (with expressions) the smoothed probabilities."""

    face: Face
    track: int
    smoothed: tuple[float, ...] | None = None

    @property
    def smoothed_dict(self) -> dict[str, float] | None:
        return dict(zip(EXPRESSION_LABELS, self.smoothed)) if self.smoothed is not None else None

    @property
    def smoothed_dominant(self) -> str | None:
        return EXPRESSION_LABELS[int(np.argmax(self.smoothed))] if self.smoothed is not None else None


class Tracker:
    """Assigns track ids to the faces of consecutive frames and smooths their expressions.

    Args:
        iou_threshold: minimum IoU between a face and a track's box in the previous frame to continue it.
        reid_distance: maximum descriptor distance to re-identify a lost track (descriptors only).
        reid_seconds: how long a lost track can be re-identified by its descriptor.
        smooth_window: number of analysed frames averaged per track (1 = no smoothing).
    """

    def __init__(self, iou_threshold: float = 0.3, reid_distance: float = 0.6, reid_seconds: float = 2.0,
                 smooth_window: int = 5):
        if not 0 < iou_threshold <= 1:
            raise OptionsError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if smooth_window < 1:
            raise OptionsError(f"smooth_window must be >= 1, got {smooth_window}")
        self.iou_threshold = iou_threshold
        self.reid_distance = reid_distance
        self.reid_seconds = reid_seconds
        self.smooth_window = smooth_window
        self.tracks: dict[int, Track] = {}
        self._next_id = 1
        self._frame = -1

    def update(self, faces: Sequence[Face], time: float) -> list[TrackedFace]:
        """Track ids (and smoothed expressions) for the faces of the next analysed frame."""
        self._frame += 1
        frame = self._frame
        self._forget(time)
        assigned: dict[int, int] = {}  # face index -> track id
        # 1. IoU with the tracks of the previous frame, greedily by IoU
        recent = [t for t in self.tracks.values() if t.last_frame == frame - 1]
        pairs: list[tuple[float, int, int]] = []
        for fi, face in enumerate(faces):
            for t in recent:
                v = iou(face.detection.box, t.box)
                if v >= self.iou_threshold:
                    pairs.append((v, fi, t.id))
        used: set[int] = set()
        for _v, fi, track_id in sorted(pairs, key=lambda p: -p[0]):
            if fi not in assigned and track_id not in used:
                assigned[fi] = track_id
                used.add(track_id)
        # 2. descriptors: re-identify faces left over against tracks not matched above
        candidates = [t for t in self.tracks.values() if t.id not in used and t.mean_descriptor is not None]
        if candidates:
            pairs = []
            for fi, face in enumerate(faces):
                if fi in assigned or face.descriptor is None:
                    continue
                d = np.asarray(face.descriptor, np.float64)
                for t in candidates:
                    mean = t.mean_descriptor
                    if mean is None:
                        continue
                    dist = float(np.linalg.norm(d - mean))
                    if dist <= self.reid_distance:
                        pairs.append((dist, fi, t.id))
            for _d, fi, track_id in sorted(pairs, key=lambda p: p[0]):
                if fi not in assigned and track_id not in used:
                    assigned[fi] = track_id
                    used.add(track_id)
        # 3. new tracks; then record what this frame saw
        out: list[TrackedFace] = []
        for fi, face in enumerate(faces):
            tid = assigned.get(fi)
            if tid is None:
                tid = self._next_id
                self._next_id += 1
                track = Track(tid, face.detection.box, frame, time, time, hits=0,
                              expressions=deque(maxlen=self.smooth_window))
                self.tracks[tid] = track
            track = self.tracks[tid]
            track.box = face.detection.box
            track.last_frame = frame
            track.last_time = time
            track.hits += 1
            if face.descriptor is not None:
                track.descriptors.append(np.asarray(face.descriptor, np.float64))
            smoothed = None
            if face.expressions is not None:
                track.expressions.append(np.asarray(face.expressions.probabilities, np.float64))
                smoothed = tuple(float(v) for v in np.mean(np.stack(track.expressions), axis=0))
            out.append(TrackedFace(face, tid, smoothed))
        return out

    def _forget(self, time: float) -> None:
        """Drop tracks that can no longer be continued (not seen for longer than ``reid_seconds``)."""
        stale = [tid for tid, t in self.tracks.items()
                 if t.last_frame < self._frame - 1 and time - t.last_time > self.reid_seconds]
        for tid in stale:
            del self.tracks[tid]
