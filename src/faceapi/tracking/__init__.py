"""Faces followed from frame to frame: the one tracker of the live stream and of video analysis.

`FaceTracker` takes frames in order and gives `TrackedFrame`s: each face with a stable ``track`` id, its
smoothed values (One Euro filter for boxes and landmarks, exponential smoothing for expressions, age and
gender) and the engine's raw ones; the detector runs only when needed (see `faceapi.tracking.face_tracker`).
`TrackingOptions` (in `faceapi.options`) holds its parameters.
"""

from __future__ import annotations

from faceapi.options import TrackingOptions
from faceapi.tracking.face_tracker import REASONS, FaceTracker, TrackedFace, TrackedFrame
from faceapi.tracking.one_euro import ExponentialSmoother, OneEuroFilter

__all__ = ["REASONS", "ExponentialSmoother", "FaceTracker", "OneEuroFilter", "TrackedFace", "TrackedFrame",
           "TrackingOptions"]
