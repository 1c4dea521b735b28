"""Result dataclasses, shared by the library, the CLI (JSON lines) and the server (JSON).

Coordinates are image pixels (floats, not rounded), origin top-left. Every class has ``to_dict()``;
the dict forms together make the one JSON schema documented in docs/library.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

EXPRESSION_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")

#: iBUG-68 index ranges of FaceLandmarks68's regions (end exclusive).
LANDMARK_REGIONS = {
    "jaw": (0, 17),
    "left_eyebrow": (17, 22),
    "right_eyebrow": (22, 27),
    "nose": (27, 36),
    "left_eye": (36, 42),
    "right_eye": (42, 48),
    "mouth": (48, 68),
}


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle: top-left corner and size, in pixels."""

    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @property
    def area(self) -> float:
        return self.width * self.height

    def scaled(self, sx: float, sy: float) -> Box:
        return Box(self.x * sx, self.y * sy, self.width * sx, self.height * sy)

    def shifted(self, dx: float, dy: float) -> Box:
        return Box(self.x + dx, self.y + dy, self.width, self.height)

    def padded(self, px: float, py: float) -> Box:
        """face-api.js ``Box.pad``: grow by px, py in total, centred."""
        return Box(self.x - px / 2, self.y - py / 2, self.width + px, self.height + py)

    def crop_rect(self, image_width: int, image_height: int) -> tuple[int, int, int, int]:
        """``clipAtImageBorders`` then floor of each of x, y, w, h (face-api.js's tensor crop)."""
        x0 = max(self.x, 0.0)
        y0 = max(self.y, 0.0)
        w = min(self.right - x0, image_width - x0)
        h = min(self.bottom - y0, image_height - y0)
        return math.floor(x0), math.floor(y0), math.floor(w), math.floor(h)

    def iou(self, other: Box) -> float:
        """Intersection over union with another box (0 when they do not overlap or both are empty).

        The general one; face-api.js's own NMS variants, exact to the operation, are
        `faceapi.engine.geometry.iou_ssd` and ``iou_xywh``.
        """
        iw = max(0.0, min(self.right, other.right) - max(self.x, other.x))
        ih = max(0.0, min(self.bottom, other.bottom) - max(self.y, other.y))
        inter = iw * ih
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> Box:
        """From ``{"x", "y", "width", "height"}`` (the `to_dict` form)."""
        return cls(float(d["x"]), float(d["y"]), float(d["width"]), float(d["height"]))

    def to_dict(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Detection:
    """A detected face: box in image pixels, score, and the size of the image it was found in."""

    box: Box
    score: float
    image_width: int
    image_height: int

    @property
    def relative_box(self) -> Box:
        return self.box.scaled(1 / self.image_width, 1 / self.image_height)

    def for_size(self, width: int, height: int) -> Detection:
        """The same relative box in an image of another size (face-api.js ``forSize``)."""
        return Detection(self.relative_box.scaled(width, height), self.score, width, height)

    def to_dict(self) -> dict[str, Any]:
        return {"box": self.box.to_dict(), "score": self.score}


@dataclass(frozen=True, eq=False)
class Landmarks68:
    """68 facial landmarks in image pixels.

    Attributes:
        positions: ``(68, 2)`` float array of (x, y) in image pixels.
        shift: origin of the crop the net saw, in image pixels (the unfloored detection origin).
        crop_width, crop_height: size of that crop (face-api.js keeps it as the landmarks' image size); after
            `Face.resized`, the size of the resized detection box (not whole pixels).
    """

    positions: np.ndarray
    shift: tuple[float, float]
    crop_width: float
    crop_height: float

    @property
    def unshifted(self) -> np.ndarray:
        out: np.ndarray = self.positions - np.asarray(self.shift)
        return out

    def region(self, name: str) -> np.ndarray:
        start, end = LANDMARK_REGIONS[name]
        return self.positions[start:end]

    @property
    def regions(self) -> dict[str, np.ndarray]:
        return {name: self.region(name) for name in LANDMARK_REGIONS}

    def to_dict(self) -> dict[str, Any]:
        return {"positions": self.positions.tolist()}


@dataclass(frozen=True)
class Expressions:
    """Probabilities of the seven expressions (softmax), in face-api.js's label order.

    `model`: the expression model that gave them when it is not face-api.js's net (`faceapi.expression_models`;
    None: face-api.js's, the default). `calibrated`: calibrated probabilities of the same labels, when
    asked for (the `calibrated` option): confidence that means what it says, with the same dominant label.
    """

    probabilities: tuple[float, ...]
    calibrated: tuple[float, ...] | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if len(self.probabilities) != len(EXPRESSION_LABELS):
            raise ValueError(f"expected {len(EXPRESSION_LABELS)} probabilities, got {len(self.probabilities)}")
        if self.calibrated is not None and len(self.calibrated) != len(EXPRESSION_LABELS):
            raise ValueError(f"expected {len(EXPRESSION_LABELS)} calibrated probabilities, got {len(self.calibrated)}")

    def as_dict(self) -> dict[str, float]:
        return dict(zip(EXPRESSION_LABELS, self.probabilities))

    def __getitem__(self, label: str) -> float:
        return self.probabilities[EXPRESSION_LABELS.index(label)]

    @property
    def dominant(self) -> str:
        return EXPRESSION_LABELS[int(np.argmax(self.probabilities))]

    def sorted(self) -> list[tuple[str, float]]:
        """(label, probability), most probable first (``asSortedArray``)."""
        return sorted(self.as_dict().items(), key=lambda kv: -kv[1])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"dominant": self.dominant, "probabilities": self.as_dict()}
        if self.calibrated is not None:
            d["calibrated"] = dict(zip(EXPRESSION_LABELS, self.calibrated))
        if self.model is not None:
            d["model"] = self.model
        return d


@dataclass(frozen=True)
class AgeGender:
    """Age in years (unrounded regression) and gender with its probability."""

    age: float
    gender: str  # "male" or "female"
    gender_probability: float

    def to_dict(self) -> dict[str, Any]:
        return {"age": self.age, "gender": self.gender, "gender_probability": self.gender_probability}


@dataclass(frozen=True)
class FaceMatch:
    """The best match of a descriptor: a label, or "unknown", and its distance."""

    label: str
    distance: float

    def __str__(self) -> str:
        if not math.isfinite(self.distance):  # nobody to compare with (empty gallery)
            return self.label
        return f"{self.label} ({math.floor(self.distance * 100) / 100})"

    def to_dict(self) -> dict[str, Any]:
        # JSON has no Infinity: an empty gallery's "unknown" has no distance
        return {"label": self.label, "distance": self.distance if math.isfinite(self.distance) else None}


@dataclass(frozen=True)
class Liveness:
    """Whether a face is live (not a photo of one): the probability `score` of a live face, and whether it
    reaches `threshold` (`faceapi.liveness`)."""

    score: float
    live: bool
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "live": self.live, "threshold": self.threshold}


@dataclass(frozen=True, eq=False)
class Face:
    """Everything known about one face; fields the chain did not compute are None."""

    detection: Detection
    landmarks: Landmarks68 | None = None
    aligned_box: Box | None = None
    expressions: Expressions | None = None
    age_gender: AgeGender | None = None
    descriptor: np.ndarray | None = field(default=None, repr=False)
    match: FaceMatch | None = None
    liveness: Liveness | None = None

    def with_(self, **changes: Any) -> Face:
        return replace(self, **changes)

    def to_dict(self, descriptor: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = self.detection.to_dict()
        if self.landmarks is not None:
            d["landmarks"] = self.landmarks.to_dict()["positions"]
        if self.aligned_box is not None:
            d["aligned_box"] = self.aligned_box.to_dict()
        if self.expressions is not None:
            d["expressions"] = self.expressions.to_dict()
        if self.age_gender is not None:
            d.update(self.age_gender.to_dict())
        if self.descriptor is not None and descriptor:
            d["descriptor"] = [float(v) for v in self.descriptor]
        if self.match is not None:
            d["match"] = self.match.to_dict()
        if self.liveness is not None:
            d["liveness"] = self.liveness.to_dict()
        return d

    def resized(self, width: int, height: int) -> Face:
        """The face drawn on an image of another size (face-api.js ``resizeResults``)."""
        if width <= 0 or height <= 0:
            raise ValueError(f"resized: width and height must be positive, got {width}x{height}")
        det = self.detection.for_size(width, height)
        sx = width / self.detection.image_width
        sy = height / self.detection.image_height
        landmarks = None
        if self.landmarks is not None:
            lm = self.landmarks
            # face-api.js: the relative positions scaled to the new box, shifted by its origin; the new box is
            # the landmarks' size from now on, so that resizing again starts from where this one ended
            rel = lm.unshifted / np.array([lm.crop_width, lm.crop_height])
            size = (det.box.width, det.box.height)
            pos = rel * np.array(size) + np.array([det.box.x, det.box.y])
            landmarks = Landmarks68(pos, (det.box.x, det.box.y), *size)
        aligned = self.aligned_box.scaled(sx, sy) if self.aligned_box is not None else None
        return replace(self, detection=det, landmarks=landmarks, aligned_box=aligned)


@dataclass(frozen=True, eq=False)
class FrameResult:
    """All faces found in one image, with the image size and per-stage timings in milliseconds."""

    width: int
    height: int
    faces: tuple[Face, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self, descriptors: bool = True) -> dict[str, Any]:
        return {
            "image": {"width": self.width, "height": self.height},
            "faces": [f.to_dict(descriptor=descriptors) for f in self.faces],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }
