"""`FaceTracker`: frames in, tracked faces out. Stable ids, smoothed values, and the detector only when needed.

Per frame (`FaceTracker.update`):

1. **Detector or regions.** The detector runs on the first frame, when no face is tracked, when the
   options changed, every `TrackingOptions.detect_every` frames or `detect_ms` ms (to find faces that came
   into view), when the scene changed (`scene_change`: mean absolute difference of consecutive grey
   thumbnails) and when a track's landmarks are implausible (below). Otherwise each track's region for
   this frame comes from its landmarks in the previous frame, as MediaPipe does with its mesh: the
   landmarks' bounding box, moved and scaled by the relation between the detection box and the landmark
   box learned when the detector last found the face, and moved on by the track's velocity (constant
   motion predicted); the chain's first half (`FaceAnalyzer.locate(regions=...)`: the landmarks) runs on
   those regions without the detector. The second half (`FaceAnalyzer.describe`: expressions, age/gender,
   descriptors, recognition) runs once per frame, on the faces accepted (the regions' or the detector's).
2. **Plausibility** (regions only; any failure re-runs the frame with the detector): the landmark nets
   re-centre a face that sits up to about a fifth of the crop off its centre, not further (they then stay
   near the crop's centre), so the face found may sit at most `MAX_OFFSET` of the region's size away from
   where the region expected it; further off, they place a face at the crop's centre whatever it holds,
   so the grey patch under the landmark box must still look like the previous frame's (normalised
   correlation at least `MIN_SIMILARITY`); the landmark box may not change size by more than a factor
   `MAX_SCALE` from the previous frame; the shape must stay a face
   (eyes above nose tip above mouth across the eye line; eye distance over landmark-box width within a
   factor `MAX_SHAPE` of the ratio at the last detection); two tracks may not land on one face (landmark
   boxes with IoU above `MAX_OVERLAP`); a region mostly outside the image (less than `MIN_VISIBLE` of it
   inside) means the face is leaving. A face found more than `REFINE_OFFSET` off its region's centre (it
   moved faster than predicted) is looked for once more in a region centred where it was found, and the
   checks apply to that second pass.
3. **Ids** (detector frames): a track is one person. A face continues the track whose box it overlaps most
   (IoU >= `iou_threshold` with the box where it was last seen or where its motion puts it now; greedy),
   else the track whose box's centre is nearest within `MAX_MOVE` of its size (a fast face overlaps
   little), but only if it looks like the track's person (`_Track.same_person`: descriptor within
   `reid_distance` of the track's running mean, else appearance signature, `signature`, correlating at
   least `SAME_APPEARANCE`; without landmarks the signature counts only at scene cuts). Left-over faces
   take up a track seen within `reid_seconds` anywhere in the frame by descriptor (within
   `reid_distance`) or signature (at least `REID_APPEARANCE`); the rest start new tracks (ids count up
   from 1, never reused). A track not found is *lost*: it can be taken up again within `reid_seconds`,
   then it is forgotten. A new track, or one taken up after a loss, starts its smoothing afresh.
4. **Smoothing** (per track): One Euro filter on the box corners and the landmarks; expression
   probabilities smoothed exponentially with a warm-up and a change detector (`ExpressionFilter`);
   exponential smoothing of age and the probability of "male" (the gender is the likelier one).
5. **Liveness** (with `AnalyzeOptions.liveness` or ``require_live``): not run by the chain on every frame,
   but by the tracker on each face whose track is due (`faceapi.tracking.liveness`: detector frames, a
   track's first frame, then every ``PERIOD_S``), and smoothed over the track (the median of the last
   ``WINDOW_S``); every tracked face carries its track's smoothed verdict, and ``require_live`` takes the
   name of a face whose smoothed verdict is not live (`faceapi.liveness.with_verdict`). The raw face has
   the frame's own verdict when it was measured on that frame (and loses its name by it), else none (and
   loses its name by the track's verdict: ``raw`` is in the stream's JSON too).
6. **Times**: the caller's, validated and moved on to at least `MIN_STEP` after the previous frame's.

Raw values: `TrackedFrame.raw` is the engine's `FrameResult` for the frame: on detector frames exactly
``FaceAnalyzer.analyze(image, options)``; on region frames the same chain on the tracker's regions (the
detection box is the region, its score the score of the track's last detection).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from faceapi.errors import OptionsError
from faceapi.expression_models import DEFAULT_MODEL, calibrate_probabilities
from faceapi.image import ImageInput, load_image
from faceapi.liveness import judge, liveness_scores, with_verdict, withhold_name
from faceapi.matching import MatcherSource
from faceapi.options import AnalyzeOptions, TrackingOptions
from faceapi.pipeline import FaceAnalyzer, aligned_box
from faceapi.results import AgeGender, Box, Detection, Expressions, Face, FrameResult, Landmarks68
from faceapi.tracking.expressions import ExpressionFilter
from faceapi.tracking.liveness import LivenessFilter
from faceapi.tracking.one_euro import ExponentialSmoother, OneEuroFilter

#: Plausibility bounds of a track's landmarks between two frames (see the module docstring).
MAX_SCALE = 1.3     # landmark box size change (either way)
MAX_SHAPE = 1.35    # eye distance / landmark box width, against the ratio at the last detection (either way)
MAX_OVERLAP = 0.5   # IoU of two tracks' landmark boxes
MIN_VISIBLE = 0.6   # fraction of a region's area inside the image
MAX_MOVE = 0.75     # ids: a face's centre this close to a track's box (fraction of its size) continues it
MAX_OFFSET = 0.1    # how far the face may sit from where the region expected it, as a fraction of the region
REFINE_OFFSET = 0.04  # further off than this, the region is re-centred on the landmarks found and run again
MIN_SIMILARITY = 0.7  # correlation of the face's grey patch with the previous frame's
VELOCITY_ALPHA = 0.7  # exponential smoothing of a track's velocity (the region's motion prediction)
PATCH = 24          # side of the grey patch sampled in the landmark box for the appearance check
#: ids without descriptors: a face continues a track only if its signature correlates at least this well with
#: the track's (one person: 0.98 and up in clean video, down to 0.61 for a 200 px face under sigma-12 noise;
#: different people at one place in tests/tracking/test_identity.py: 0.32 at most; some pairs of the shared
#: photos reach 0.75: a cheap signature tells clearly different faces apart, descriptors do better)
SAME_APPEARANCE = 0.5
REID_APPEARANCE = 0.85  # ids: a face takes up a lost track elsewhere by signature from this correlation
BOX_POOL = 4        # a signature without landmarks: the detection box's patch in 4 x 4 block means (6 x 6)
MIN_STEP = 1e-3     # seconds: a frame time not this much after the previous one is moved on to it

#: Why the detector ran on a frame (`TrackedFrame.reason`).
REASONS = ("start", "options", "no_faces", "no_landmarks", "interval", "scene_change", "implausible")

_THUMB_STEP = 4   # thumbnail: every 4th pixel, then 4x4 block means (640x480 -> 40x30)
_THUMB_BLOCK = 4


def landmark_box(points: np.ndarray) -> Box:
    """The bounding box of landmark positions ``(68, 2)``."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A small grey picture of the frame for the scene-change test (cheap: a strided sample, block means).

    The block sums are integers (exact), divided once: a quarter of the CPU of float means per channel and
    per block (0.17 ms a 640x480 frame instead of 0.7; the values agree to 2e-5 of a grey level)."""
    small = image[::_THUMB_STEP, ::_THUMB_STEP]
    h = small.shape[0] - small.shape[0] % _THUMB_BLOCK
    w = small.shape[1] - small.shape[1] % _THUMB_BLOCK
    if h == 0 or w == 0:
        grey: np.ndarray = small.astype(np.float32).mean(axis=2)
        return grey
    s = small[:h, :w].astype(np.uint16)  # a block's rows: 4 x 255 per channel
    rows = s[0::_THUMB_BLOCK] + s[1::_THUMB_BLOCK]
    for k in range(2, _THUMB_BLOCK):
        rows += s[k::_THUMB_BLOCK]
    sums = rows.reshape(h // _THUMB_BLOCK, w // _THUMB_BLOCK, _THUMB_BLOCK * 3).sum(axis=2, dtype=np.uint32)
    out: np.ndarray = sums.astype(np.float32) / np.float32(_THUMB_BLOCK * _THUMB_BLOCK * 3)
    return out


def face_patch(image: np.ndarray, points: np.ndarray | Box) -> np.ndarray | None:
    """The grey picture under the landmarks' box (or a given box), `PATCH` x `PATCH` (2x2 means of a sampled
    grid), zero mean and unit norm: its dot product with another is their normalised correlation. None when
    flat or empty. It is also a face's appearance signature (ids, module docstring step 3)."""
    h, w = image.shape[:2]
    lb = points if isinstance(points, Box) else landmark_box(points)
    if not (lb.width > 0 and lb.height > 0):
        return None
    n = 2 * PATCH
    xs = np.clip(np.round(lb.x + (np.arange(n) + 0.5) * lb.width / n), 0, w - 1).astype(np.intp)
    ys = np.clip(np.round(lb.y + (np.arange(n) + 0.5) * lb.height / n), 0, h - 1).astype(np.intp)
    # 2 x 2 pixels x 3 channels summed as integers (exact), divided once: cheaper than float means
    grid = image[ys[:, None], xs[None, :]].astype(np.int32)
    sums = grid.reshape(PATCH, 2, PATCH, 6).sum(axis=3).sum(axis=1)
    patch: np.ndarray = sums.astype(np.float32) / np.float32(12)
    patch -= patch.mean()
    norm = float(np.linalg.norm(patch))
    return patch / norm if norm > 1e-6 else None


def landmark_patch(image: np.ndarray, face: Face) -> np.ndarray | None:
    """`face_patch` under the face's landmarks (None without them): computed once per face and frame, for
    the plausibility check, the signature and the track's next check (`FaceTracker.update`)."""
    return face_patch(image, face.landmarks.positions) if face.landmarks is not None else None


def signature(image: np.ndarray, face: Face, patch: np.ndarray | None = None) -> np.ndarray | None:
    """A face's appearance signature: `face_patch` under its landmarks (`patch`, when the caller has it:
    `landmark_patch`); without them, under its detection
    box, in `BOX_POOL` x `BOX_POOL` block means (a detection box jitters by more than the details of a
    24 x 24 patch: on the five-people clip of tests/tracking/test_identity.py, consecutive frames of one
    person then correlate at 0.68 and up at full size, at 0.875 and up pooled, different people at 0.45 at
    most; under landmarks: 0.98 and up, different people 0.75 at most). None for a face cut by the frame's
    edge (no evidence: its position decides)."""
    h, w = image.shape[:2]
    box = landmark_box(face.landmarks.positions) if face.landmarks is not None else face.detection.box
    if box.x < 0 or box.y < 0 or box.right > w or box.bottom > h:
        return None  # cut by the frame's edge: what the patch holds changes with where the edge cuts it
    if face.landmarks is not None:
        return patch if patch is not None else face_patch(image, face.landmarks.positions)
    patch = face_patch(image, box)
    if patch is None:
        return None
    n = PATCH // BOX_POOL
    pooled: np.ndarray = patch.reshape(n, BOX_POOL, n, BOX_POOL).mean(axis=(1, 3))
    pooled -= pooled.mean()
    norm = float(np.linalg.norm(pooled))
    return pooled / norm if norm > 1e-6 else None


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Normalised correlation of two signatures (None when one is missing or they are of different kinds)."""
    if a is None or b is None or a.shape != b.shape:
        return None
    return float(np.sum(a * b))


def _eyes_nose_mouth(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[30], points[48:68].mean(axis=0)


def eye_ratio(points: np.ndarray) -> float:
    """Distance between the eye centres over the landmark box's width."""
    left, right, _, _ = _eyes_nose_mouth(points)
    width = float(np.ptp(points[:, 0]))
    return float(np.linalg.norm(right - left)) / width if width > 0 else 0.0


def upright(points: np.ndarray) -> bool:
    """Nose tip below the eyes and mouth below the nose tip, measured across the eye line (any roll)."""
    left, right, nose, mouth = _eyes_nose_mouth(points)
    eye_line = right - left
    down = np.array([-eye_line[1], eye_line[0]])  # the eye line turned 90 degrees: "down" in the face
    mid = (left + right) / 2
    return bool(0 < float(np.dot(nose - mid, down)) < float(np.dot(mouth - mid, down)))


@dataclass(frozen=True, eq=False)
class TrackedFace:
    """One face of a tracked frame: its track id, the smoothed face and the engine's raw one.

    `face` has the smoothed box, landmarks (and the aligned box from them), expressions and age/gender;
    score, descriptor and match are the raw ones. Without smoothing `face` is `raw`.
    """

    track: int
    face: Face
    raw: Face

    def to_dict(self, descriptor: bool = True) -> dict[str, Any]:
        """The smoothed face's JSON with ``"track"`` and ``"raw"`` (the raw face's JSON, no descriptor)."""
        d = self.face.to_dict(descriptor=descriptor)
        d["track"] = self.track
        d["raw"] = self.raw.to_dict(descriptor=False)
        return d


@dataclass(frozen=True, eq=False)
class TrackedFrame:
    """The tracked faces of one frame.

    Attributes:
        detected: whether the detector ran on this frame; `reason` says why (one of `REASONS`), else None.
        raw: the engine's result for the frame (see the module docstring).
        timings_ms: the engine's stages of the frame plus ``tracking`` (the tracker's own work; on a frame
            re-run with the detector, the rejected region pass too) and ``total``.
    """

    width: int
    height: int
    faces: tuple[TrackedFace, ...]
    detected: bool
    reason: str | None
    raw: FrameResult
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self, descriptors: bool = True) -> dict[str, Any]:
        return {
            "image": {"width": self.width, "height": self.height},
            "faces": [f.to_dict(descriptor=descriptors) for f in self.faces],
            "detected": self.detected,
            "detect_reason": self.reason,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }


class _Track:
    """One face followed over time: where it is, how to crop it next, and its filters."""

    def __init__(self, track_id: int, tracking: TrackingOptions) -> None:
        self.id = track_id
        self.lost_since: float | None = None
        self.last_box: Box | None = None            # the raw detection/region box of the last frame seen
        self.landmarks: np.ndarray | None = None     # raw landmarks of the last frame seen
        self.patch: np.ndarray | None = None          # the grey patch under them (appearance check)
        self.seen_at = 0.0                            # when they were seen
        self.velocity = np.zeros(2)                   # of the landmark box's centre, px/s, smoothed
        self.relation: tuple[float, float, float, float] | None = None  # detection box vs landmark box
        self.eye_ratio = 0.0
        self.score = 0.0
        self.descriptors: deque[np.ndarray] = deque(maxlen=10)
        self.signature: np.ndarray | None = None      # appearance when last seen (`signature`), kept when lost
        self.restart_smoothing(tracking)

    def restart_smoothing(self, tracking: TrackingOptions) -> None:
        """New filters: the smoothed values start again from the next frame's (a new track, a track taken up
        again after a loss)."""
        self.corners = OneEuroFilter(tracking.min_cutoff, tracking.beta, tracking.d_cutoff)
        self.points = OneEuroFilter(tracking.min_cutoff, tracking.beta, tracking.d_cutoff)
        self.expressions = ExpressionFilter(tracking.expression_alpha)
        self.age = ExponentialSmoother(tracking.age_alpha)
        self.male = ExponentialSmoother(tracking.age_alpha)
        self.liveness = LivenessFilter(tracking.smoothing)

    def restart_motion(self) -> None:
        """Forget the motion (after a cut, a loss or a re-identification elsewhere): no velocity from a jump."""
        self.velocity = np.zeros(2)
        self.landmarks = None
        self.patch = None

    def same_person(self, face: Face, sig: np.ndarray | None, tracking: TrackingOptions, cut: bool) -> bool | None:
        """Whether `face` (its appearance signature `sig`) looks like this track's person: by descriptor
        (distance to the track's running mean within `reid_distance`, the matching threshold) when both
        have one, else by signature (correlation at least `SAME_APPEARANCE`): under landmarks always,
        under a bare detection box only at a scene cut (`cut`; its jitter makes one person's signatures
        differ as much as two people's, see `signature`). None when there is nothing to compare."""
        mean = self.mean_descriptor
        if face.descriptor is not None and mean is not None:
            return float(np.linalg.norm(np.asarray(face.descriptor, np.float64) - mean)) <= tracking.reid_distance
        if face.landmarks is None and not cut:
            return None
        similar = similarity(sig, self.signature)
        return None if similar is None else similar >= SAME_APPEARANCE

    @property
    def mean_descriptor(self) -> np.ndarray | None:
        if not self.descriptors:
            return None
        mean: np.ndarray = np.mean(np.stack(self.descriptors), axis=0)
        return mean

    def learn(self, face: Face) -> None:
        """At a detection: the detection box's place and size relative to the landmark box, and the shape."""
        self.score = face.detection.score
        if face.landmarks is None:
            self.relation = None
            return
        pts = face.landmarks.positions
        lb, db = landmark_box(pts), face.detection.box
        if lb.width <= 0 or lb.height <= 0:
            self.relation = None
            return
        self.relation = ((db.x + db.width / 2 - (lb.x + lb.width / 2)) / lb.width,
                         (db.y + db.height / 2 - (lb.y + lb.height / 2)) / lb.height,
                         db.width / lb.width, db.height / lb.height)
        self.eye_ratio = eye_ratio(pts)

    def region(self, t: float | None = None) -> Box | None:
        """Where to look for the face at time `t`: the last landmarks' box through the learned relation,
        moved on by the velocity (None: where it was last seen)."""
        if self.relation is None or self.landmarks is None:
            return None
        return self._region_of(self.landmarks, self.velocity * (t - self.seen_at) if t is not None else None)

    def _region_of(self, points: np.ndarray, move: np.ndarray | None = None) -> Box:
        lb = landmark_box(points)
        assert self.relation is not None
        dx, dy, sw, sh = self.relation
        w, h = sw * lb.width, sh * lb.height
        cx, cy = lb.x + lb.width / 2 + dx * lb.width, lb.y + lb.height / 2 + dy * lb.height
        if move is not None:
            cx, cy = cx + float(move[0]), cy + float(move[1])
        return Box(cx - w / 2, cy - h / 2, w, h)

    def expected_boxes(self, t: float) -> list[Box]:
        """Where a detection of this face may be at time `t` (matching at detector frames): where it was
        last seen and, while followed, where its motion puts it."""
        boxes = [self.last_box] if self.last_box is not None else []
        if self.lost_since is None:
            region = self.region(t)
            if region is not None:
                boxes.append(region)
        return boxes

    def offset(self, face: Face) -> float:
        """How far the face found sits from the centre of the region it was found in, as a fraction of the
        region's size (inf without landmarks)."""
        if face.landmarks is None or self.relation is None:
            return math.inf
        region, found = face.detection.box, self._region_of(face.landmarks.positions)
        return math.hypot(found.x + found.width / 2 - (region.x + region.width / 2),
                          found.y + found.height / 2 - (region.y + region.height / 2)) / max(region.width,
                                                                                             region.height)

    def recentred(self, face: Face) -> Box | None:
        """The region the landmarks just found call for (no motion prediction)."""
        if face.landmarks is None or self.relation is None:
            return None
        return self._region_of(face.landmarks.positions)

    def plausible(self, face: Face, patch: np.ndarray | None) -> bool:
        """The landmarks found in this track's region still look like this face (module docstring, step 2);
        `patch`: the grey patch under them (`landmark_patch`)."""
        if face.landmarks is None or self.landmarks is None or self.relation is None:
            return False
        pts = face.landmarks.positions
        if self.offset(face) > MAX_OFFSET:
            return False
        if patch is None or self.patch is None or float(np.sum(patch * self.patch)) < MIN_SIMILARITY:
            return False
        new, old = landmark_box(pts), landmark_box(self.landmarks)
        if min(new.width, new.height, old.width, old.height) <= 0:
            return False
        for a, b in ((new.width, old.width), (new.height, old.height)):
            if not 1 / MAX_SCALE <= a / b <= MAX_SCALE:
                return False
        if not upright(pts):
            return False
        ratio = eye_ratio(pts)
        return self.eye_ratio <= 0 or 1 / MAX_SHAPE <= ratio / self.eye_ratio <= MAX_SHAPE

    def observe(self, raw: Face, t: float, tracking: TrackingOptions, patch: np.ndarray | None,
                sig: np.ndarray | None) -> TrackedFace:
        """Record the face seen at time `t` (the grey patch under its landmarks `patch`, `landmark_patch`; its
        appearance signature `sig`) and give its smoothed version."""
        self.lost_since = None
        self.last_box = raw.detection.box
        if sig is not None:
            self.signature = sig
        if raw.landmarks is not None:
            pts = raw.landmarks.positions
            self.patch = patch  # also at the frame's edge, where `sig` is None
            if self.landmarks is not None and t > self.seen_at:
                v = (pts.mean(axis=0) - self.landmarks.mean(axis=0)) / (t - self.seen_at)
                self.velocity = self.velocity + VELOCITY_ALPHA * (v - self.velocity)
            self.landmarks, self.seen_at = pts, t
        if raw.descriptor is not None:
            self.descriptors.append(np.asarray(raw.descriptor, np.float64))
        if not tracking.smoothing:
            return TrackedFace(self.id, raw, raw)
        det = raw.detection
        b = det.box
        (x0, y0), (x1, y1) = self.corners(np.array([[b.x, b.y], [b.right, b.bottom]]), t)
        box = Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        face = raw.with_(detection=Detection(box, det.score, det.image_width, det.image_height))
        if raw.landmarks is not None:
            pts = self.points(raw.landmarks.positions, t)
            face = face.with_(landmarks=Landmarks68(pts, (box.x, box.y), box.width, box.height),
                              aligned_box=aligned_box(pts, det.image_width, det.image_height))
        if raw.expressions is not None:
            e = raw.expressions
            probs = self.expressions(np.asarray(e.probabilities))
            # the smoothed probabilities keep the raw ones' model and, when asked for, their calibration
            cal = None if e.calibrated is None else tuple(
                float(p) for p in calibrate_probabilities(probs, e.model or DEFAULT_MODEL))
            face = face.with_(expressions=Expressions(tuple(float(p) for p in probs), calibrated=cal, model=e.model))
        if raw.age_gender is not None:
            ag = raw.age_gender
            p = ag.gender_probability
            male = float(self.male(p if ag.gender == "male" else 1 - p))
            gender, prob = ("male", male) if male >= 0.5 else ("female", 1 - male)
            face = face.with_(age_gender=AgeGender(float(self.age(ag.age)), gender, prob))
        return TrackedFace(self.id, face, raw)


class FaceTracker:
    """Follows the faces of one stream of frames (a WebSocket client, a video): `update` per frame, in order.

    Args:
        analyzer: the `FaceAnalyzer` whose chain runs on every frame.
        options: what the chain computes (landmarks are what tracking between detections follows: without
            them the detector runs on every frame; ids and smoothing still apply).
        tracking: smoothing, detector scheduling and id parameters.
        matcher: whom `options.recognize` matches against (default: the analyzer's).

    Not thread-safe: one tracker per stream, fed one frame at a time.
    """

    def __init__(self, analyzer: FaceAnalyzer, options: AnalyzeOptions | None = None,
                 tracking: TrackingOptions | None = None, matcher: MatcherSource | None = None) -> None:
        self.analyzer = analyzer
        self.options = options or AnalyzeOptions()
        self.tracking = tracking or TrackingOptions()
        self.matcher = matcher
        self.frames = 0  # frames seen
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1
        self._thumb: np.ndarray | None = None
        self._size: tuple[int, int] | None = None
        self._last_detect: tuple[int, float] | None = None  # (frame index, time) the detector last ran
        self._options_changed = False
        self._last_time: float | None = None  # the previous frame's time (`_clock`)

    @property
    def tracks(self) -> list[int]:
        """Ids of the faces followed now (not lost)."""
        return [tid for tid, t in self._tracks.items() if t.lost_since is None]

    def configure(self, options: AnalyzeOptions | None = None, tracking: TrackingOptions | None = None) -> None:
        """New options; tracks and ids are kept, the next frame runs the detector. New smoothing parameters
        take effect for tracks started from now on."""
        if options is not None and options != self.options:
            self.options = options
            self._options_changed = True
        if tracking is not None:
            self.tracking = tracking

    def reset(self) -> None:
        """Forget every track (ids keep counting up)."""
        self._tracks.clear()
        self._thumb = None
        self._last_detect = None
        self._last_time = None

    def update(self, image: ImageInput, t: float | None = None) -> TrackedFrame:
        """Track the faces of the next frame, taken at time `t` in seconds (default: now, monotonic).

        Times are the caller's clock: one that is not at least `MIN_STEP` after the previous frame's (the
        same, earlier, or a denormal step) is taken as `MIN_STEP` after it, so that no filter divides by a
        vanishing time step.

        Raises what `FaceAnalyzer.analyze` raises (ImageError, OptionsError, ModelError ...), and OptionsError
        for a time that is not a finite number; a frame that raises leaves the tracks as they were.
        """
        t_start = time.perf_counter()
        now = self._clock(t)
        img = load_image(image, self.analyzer.max_pixels)
        decode_ms = (time.perf_counter() - t_start) * 1000
        h, w = img.shape[:2]
        thumb = thumbnail(img)
        cut = self._cut(thumb)
        reason = self._scheduled(cut, (w, h), now)
        options, face_matcher = self.analyzer.recognition(self.options, self.matcher)
        # liveness is the tracker's (step 5), not the chain's on every frame
        chain = replace(options, liveness=False, require_live=False) if options.needs_liveness else options
        engine_ms = 0.0
        active = [tr for tr in self._tracks.values() if tr.lost_since is None]
        regions: list[tuple[_Track, Box]] = []
        if reason is None:
            for tr in active:
                region = tr.region(now)
                if region is None:
                    reason = "no_landmarks"
                    break
                regions.append((tr, region))
            else:
                for tr, r in regions:
                    if _visible(r, w, h) < MIN_VISIBLE:  # a face leaving the frame: its track is lost
                        tr.lost_since = now
                regions = [(tr, r) for tr, r in regions if tr.lost_since is None]
                if not regions:
                    reason = "no_faces"
        # the chain's first half (landmarks) on the tracks' regions; the rest of it runs once, on the faces
        # accepted: the regions' or, when they are not plausible, the detector's
        stages: dict[str, float] = {}
        faces: list[Face] = []
        patches: list[np.ndarray | None] = []  # the grey patch under each face's landmarks, once per face
        if reason is None:
            t = time.perf_counter()
            tracks = [tr for tr, _ in regions]
            faces = self.analyzer.locate(img, chain, [Detection(r, tr.score, w, h) for tr, r in regions], stages)
            again = [tr.recentred(f) for tr, f in zip(tracks, faces)] if len(faces) == len(tracks) else []
            if again and any(tr.offset(f) > REFINE_OFFSET for tr, f in zip(tracks, faces)) \
                    and all(r is not None for r in again):
                # the face moved more than predicted: once more, on regions centred where it was found
                regions = [(tr, r) for tr, r in zip(tracks, again) if r is not None]
                faces = self.analyzer.locate(img, chain, [Detection(r, tr.score, w, h) for tr, r in regions],
                                             stages)
            engine_ms += (time.perf_counter() - t) * 1000
            patches = [landmark_patch(img, f) for f in faces]
            if not self._all_plausible([tr for tr, _ in regions], faces, patches):
                reason = "implausible"
                stages = {}
        t = time.perf_counter()
        if reason is not None:
            if cut:
                for tr in self._tracks.values():
                    tr.restart_motion()
            faces = self.analyzer.locate(img, chain, None, stages)
            patches = [landmark_patch(img, f) for f in faces]
        # the second half keeps each face's landmarks: the patches under them stay the faces'
        faces = self.analyzer.describe(img, faces, chain, face_matcher, stages)
        engine_ms += (time.perf_counter() - t) * 1000
        sigs = [signature(img, f, p) for f, p in zip(faces, patches)]
        if reason is not None:
            pairs = self._match(faces, sigs, now, cut)
            self._last_detect = (self.frames, now)
            self._options_changed = False
        else:
            pairs = [(tr, f, s) for (tr, _), f, s in zip(regions, faces, sigs)]
        self._forget(now)
        # pairs are in the faces' order (`_match` too): each face's patch goes with it
        tracked = tuple(tr.observe(face, now, self.tracking, p, sig)
                        for (tr, face, sig), p in zip(pairs, patches))
        if options.needs_liveness and tracked:
            t = time.perf_counter()
            tracked = self._liveness(img, [tr for tr, _, _ in pairs], tracked, now, reason is not None, options)
            stages["liveness"] = (time.perf_counter() - t) * 1000
            engine_ms += stages["liveness"]
            faces = [tf.raw for tf in tracked]
        self.frames += 1
        self._thumb, self._size = thumb, (w, h)
        raw = FrameResult(w, h, tuple(faces), {"decode": decode_ms, **stages, "total": decode_ms + engine_ms})
        timings = dict(raw.timings_ms)
        total = (time.perf_counter() - t_start) * 1000
        timings["tracking"] = max(0.0, total - decode_ms - engine_ms)
        timings["total"] = total
        return TrackedFrame(w, h, tracked, reason is not None, reason, raw, timings)

    def _liveness(self, img: np.ndarray, tracks: Sequence[_Track], tracked: Sequence[TrackedFace], now: float,
                  detector_frame: bool, options: AnalyzeOptions) -> tuple[TrackedFace, ...]:
        """Step 5 of the module docstring: the nets on the faces whose tracks are due (one batch), each
        measurement into its track's filter; each face with its track's smoothed verdict, each raw face with
        its own verdict when it was measured."""
        due = [i for i, tr in enumerate(tracks) if tr.liveness.due(now, detector_frame)]
        scores = liveness_scores(self.analyzer, img, [tracked[i].raw.detection.box for i in due])
        measured = dict(zip(due, (float(s) for s in scores)))
        out = []
        for i, (tr, tf) in enumerate(zip(tracks, tracked)):
            if i in measured:
                tr.liveness.add(measured[i], now)
            smoothed = tr.liveness.verdict(now, options.liveness_threshold)
            if i in measured:
                raw = with_verdict(tf.raw, judge(measured[i], options.liveness_threshold), options)
            else:  # not measured on this frame: its name (in the raw JSON too) follows the track's verdict
                raw = withhold_name(tf.raw, smoothed is None or smoothed.live, options)
            out.append(TrackedFace(tf.track, with_verdict(tf.face, smoothed, options), raw))
        return tuple(out)

    def _clock(self, t: float | None) -> float:
        """This frame's time (`update`): `t` (validated, moved on past the previous frame's) or now."""
        if t is None:
            now = time.monotonic()
        elif isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise OptionsError(f"a frame time must be a finite number of seconds, got {t!r}")
        else:
            now = float(t)
        if self._last_time is not None and not now >= self._last_time + MIN_STEP:
            now = self._last_time + MIN_STEP
        self._last_time = now
        return now

    # -- scheduling ---------------------------------------------------------------------------------
    def _cut(self, thumb: np.ndarray) -> bool:
        """Whether the scene changed since the previous frame (`TrackingOptions.scene_change`), whatever else
        makes the detector run: the ids' appearance check applies at every cut."""
        limit = self.tracking.scene_change
        return bool(limit and self._thumb is not None and thumb.shape == self._thumb.shape
                    and float(np.abs(thumb - self._thumb).mean()) > limit)

    def _scheduled(self, cut: bool, size: tuple[int, int], now: float) -> str | None:
        """Why the detector must run on this frame before looking at the landmarks (None: it need not)."""
        tr = self.tracking
        if self._last_detect is None or self._thumb is None or size != self._size:
            return "start"
        if self._options_changed:
            return "options"
        if not any(t.lost_since is None for t in self._tracks.values()):
            return "no_faces"
        if self.options.effective_landmarks is None:
            return "no_landmarks"
        frame, when = self._last_detect
        if tr.detect_every and self.frames - frame >= tr.detect_every:
            return "interval"
        if tr.detect_ms and (now - when) * 1000 >= tr.detect_ms:
            return "interval"
        if cut:
            return "scene_change"
        return None

    def _all_plausible(self, tracks: Sequence[_Track], faces: Sequence[Face],
                       patches: Sequence[np.ndarray | None]) -> bool:
        if len(faces) != len(tracks) or not all(tr.plausible(f, p) for tr, f, p in zip(tracks, faces, patches)):
            return False
        boxes = [landmark_box(f.landmarks.positions) for f in faces if f.landmarks is not None]
        return all(boxes[i].iou(boxes[j]) <= MAX_OVERLAP for i in range(len(boxes)) for j in range(i))

    # -- ids ----------------------------------------------------------------------------------------
    def _match(self, faces: Sequence[Face], sigs: Sequence[np.ndarray | None], now: float, cut: bool
               ) -> list[tuple[_Track, Face, np.ndarray | None]]:
        """Tracks for the faces the detector found (module docstring, step 3); unmatched tracks are lost.
        `sigs`: the faces' appearance signatures; `cut`: the scene changed."""
        tr_opts = self.tracking
        candidates = [t for t in self._tracks.values()
                      if t.lost_since is None or now - t.lost_since <= tr_opts.reid_seconds]
        assigned: dict[int, _Track] = {}
        used: set[int] = set()
        pairs: list[tuple[float, int, _Track]] = []
        for fi, face in enumerate(faces):
            for t in candidates:
                v = max((face.detection.box.iou(b) for b in t.expected_boxes(now)), default=0.0)
                if v >= tr_opts.iou_threshold:
                    pairs.append((-v, fi, t))
        nearby: list[tuple[float, int, _Track]] = []  # no overlap to go by: a fast face, centres close
        for fi, face in enumerate(faces):
            fb = face.detection.box
            for t in candidates:
                for b in t.expected_boxes(now):
                    dist = math.hypot(fb.x + fb.width / 2 - (b.x + b.width / 2),
                                      fb.y + fb.height / 2 - (b.y + b.height / 2))
                    if dist <= MAX_MOVE * max(b.width, b.height):
                        nearby.append((dist / max(b.width, b.height), fi, t))
        # anywhere in the frame: a track whose person this face is, by descriptor or else by appearance
        by_appearance: list[tuple[float, int, _Track]] = []
        for fi, face in enumerate(faces):
            d = np.asarray(face.descriptor, np.float64) if face.descriptor is not None else None
            for t in candidates:
                mean = t.mean_descriptor
                if d is not None and mean is not None:
                    dist = float(np.linalg.norm(d - mean))
                    if dist <= tr_opts.reid_distance:
                        by_appearance.append((dist, fi, t))
                else:
                    similar = similarity(sigs[fi], t.signature)
                    if similar is not None and similar >= REID_APPEARANCE:
                        by_appearance.append((1 - similar, fi, t))
        for group in (pairs, nearby, by_appearance):  # overlap first, then closeness, then appearance
            for _, fi, t in sorted(group, key=lambda p: (p[0], p[1], p[2].id)):
                if fi in assigned or t.id in used:
                    continue
                if group is not by_appearance:
                    same = t.same_person(faces[fi], sigs[fi], tr_opts, cut)
                    if same is False:
                        continue  # where the track was, someone else: not this track (a cut, a swap)
                    if same is None and cut and t.lost_since is not None:
                        continue  # after a cut, where a lost track was says nothing of who this is
                assigned[fi] = t
                used.add(t.id)
                if group is by_appearance or t.lost_since is not None:
                    t.restart_motion()
                if t.lost_since is not None:
                    t.restart_smoothing(tr_opts)  # back after a loss: no smoothing from where it was
        out: list[tuple[_Track, Face, np.ndarray | None]] = []
        for fi, face in enumerate(faces):
            track = assigned.get(fi)
            if track is None:
                track = _Track(self._next_id, self.tracking)
                self._next_id += 1
                self._tracks[track.id] = track
            track.learn(face)
            out.append((track, face, sigs[fi]))
        for t in self._tracks.values():
            if t.id not in used and t.lost_since is None and all(t is not tr for tr, _, _ in out):
                t.lost_since = now
        return out

    def _forget(self, now: float) -> None:
        stale = [tid for tid, t in self._tracks.items()
                 if t.lost_since is not None and now - t.lost_since > self.tracking.reid_seconds]
        for tid in stale:
            del self._tracks[tid]


def _visible(box: Box, width: int, height: int) -> float:
    """The fraction of `box`'s area inside a `width` x `height` image."""
    if box.area <= 0:
        return 0.0
    iw = max(0.0, min(box.right, width) - max(box.x, 0.0))
    ih = max(0.0, min(box.bottom, height) - max(box.y, 0.0))
    return iw * ih / box.area
