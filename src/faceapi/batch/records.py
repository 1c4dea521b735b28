"""The JSON records of `faceapi analyze` (one per image, analysed video frame, skipped or failed input),
built here and nowhere else::

    image        {"source", "status": "ok", "image", "faces", "timings_ms"[, "annotated"][, "hint"]}
                 ("hint": no face found in a small image, which may be a face crop: see `CROP_HINT`)
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


#: An image whose longer side is at most this many pixels, in which the detector found no face, may be a face
#: crop: detectors look for faces with some of the scene around them and miss a face that fills the image
#: (the 150x150 crops of face-api.js's recognition example: SSD finds none in 23 of the 26 shared ones).
SMALL_IMAGE_SIDE = 320
CROP_HINT = ("no face found in this {width}x{height} image; if it is a face crop already, analyse it with --crop "
             "(crop=True: no detector, the whole image is the face)")


def image_record(source: str, result: FrameResult, descriptors: bool = True) -> Record:
    """The record of an analysed image (`descriptors`: keep the faces' descriptors); a small image without
    faces gets a "hint" that it may be a face crop (`CROP_HINT`)."""
    record = {"source": source, "status": "ok", **result.to_dict(descriptors=descriptors)}
    if not result.faces and max(result.width, result.height) <= SMALL_IMAGE_SIDE:
        record["hint"] = CROP_HINT.format(width=result.width, height=result.height)
    return record


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


__all__ = ["CROP_HINT", "SMALL_IMAGE_SIDE", "Record", "error_record", "frame_record", "image_record", "skipped_record"]
