"""Face tracks across video frames (ids, re-identification by descriptor, smoothed expressions).

For now this is the video tracker as it was (`tracker.py`); the one tracker shared by the live stream and
video analysis replaces it in a later change.
"""

from __future__ import annotations

from faceapi.tracking.tracker import Track, TrackedFace, Tracker, iou

__all__ = ["Track", "TrackedFace", "Tracker", "iou"]
