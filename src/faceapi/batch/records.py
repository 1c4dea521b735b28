"""The JSON records of `faceapi analyze` (one per image, analysed video frame, skipped or failed input),
built here and nowhere else::

    image        {"source", "status": "ok", "image", "faces", "timings_ms"[, "annotated"]}
    video frame  the same plus "frame" and "time"; each face has "track" and, with expressions,
                 "expressions_smoothed" (the faces' values are the engine's raw ones of the frame: see
                 `faceapi.tracking`)
    failure      {"source", "status": "error"[, "frame"], "error"}
    skipped      {"source", "status": "skipped", "reason"}   (a folder's file with another extension)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faceapi.results import FrameResult
from faceapi.tracking import TrackedFace

Record = dict[str, Any]


def image_record(source: str, result: FrameResult, descriptors: bool = True) -> Record:
    """The record of an analysed image (`descriptors`: keep the faces' descriptors)."""
    return {"source": source, "status": "ok", **result.to_dict(descriptors=descriptors)}


def frame_record(source: str, index: int, time: float, result: FrameResult, tracked: Sequence[TrackedFace],
                 descriptors: bool = True) -> Record:
    """The record of an analysed video frame: the image record (of the raw `result`) plus frame, time, track
    ids and the smoothed expressions."""
    d = result.to_dict(descriptors=descriptors)
    for face_d, t in zip(d["faces"], tracked):
        face_d["track"] = t.track
        if t.face.expressions is not None:
            face_d["expressions_smoothed"] = t.face.expressions.to_dict()
    return {"source": source, "status": "ok", "frame": index, "time": round(time, 6), **d}


def error_record(source: str, error: str, *, frame: int | None = None) -> Record:
    """The record of an input (or a video from `frame` on) that could not be analysed."""
    record: Record = {"source": source, "status": "error"}
    if frame is not None:
        record["frame"] = frame
    record["error"] = error
    return record


def skipped_record(source: str, reason: str) -> Record:
    """The record of a file that was found but not analysed (not counted as a failure)."""
    return {"source": source, "status": "skipped", "reason": reason}


__all__ = ["Record", "error_record", "frame_record", "image_record", "skipped_record"]
