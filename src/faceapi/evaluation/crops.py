"""The face crop an expression or descriptor net sees for one labelled image: the whole image (``crop``
mode: sets of face crops) or, through the full chain, the largest face's box (a miss when none)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from faceapi.errors import FaceApiError, ImageError, ModelError
from faceapi.image import load_image
from faceapi.options import AnalyzeOptions

if TYPE_CHECKING:
    from faceapi.pipeline import FaceAnalyzer
    from faceapi.results import Face


@dataclass(frozen=True, eq=False)
class FaceCrop:
    """What one image gave: `crop` (RGB uint8) and `landmarks` (68 x 2 in the crop's pixels, chain only),
    or `error` (the image could not be read) or neither (the chain found no face: a miss)."""

    crop: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    error: str | None = None

    @property
    def missed(self) -> bool:
        return self.crop is None and self.error is None


def largest_face(faces: tuple[Face, ...] | list[Face]) -> Face | None:
    """The face whose detection box is largest (ties: the first); the one an evaluation scores."""
    best: Face | None = None
    for f in faces:
        if best is None or f.detection.box.area > best.detection.box.area:
            best = f
    return best


def read_image(path: str | os.PathLike[str], analyzer: FaceAnalyzer) -> np.ndarray | str:
    """The RGB image, or the reason it cannot be read (a missing or corrupt file is not a crash)."""
    try:
        return load_image(path, analyzer.max_pixels)
    except (ImageError, OSError) as exc:
        return str(exc) or type(exc).__name__
    except FaceApiError as exc:
        if isinstance(exc, ModelError):
            raise
        return str(exc)


def chain_options(**changes: object) -> AnalyzeOptions:
    """The chain an evaluation runs: SSD (face-api.js's defaults), full 68 landmarks, plus `changes`."""
    return AnalyzeOptions.from_dict({"landmarks": "full", **changes})


def face_crops(analyzer: FaceAnalyzer, paths: list[str | os.PathLike[str]] | list[os.PathLike[str]],
               crop: bool) -> list[FaceCrop]:
    """The expression crop of each image: the image itself (`crop`), else the largest face's aligned box
    from the chain (SSD, full landmarks), with its landmarks in the crop's frame."""
    from faceapi.pipeline import crop as crop_box

    out: list[FaceCrop] = []
    options = chain_options()
    for p in paths:
        img = read_image(p, analyzer)
        if isinstance(img, str):
            out.append(FaceCrop(error=img))
            continue
        if crop:
            out.append(FaceCrop(crop=img))
            continue
        face = largest_face(analyzer.analyze(img, options).faces)
        if face is None or face.aligned_box is None or face.landmarks is None:
            out.append(FaceCrop())
            continue
        h, w = img.shape[:2]
        x, y, _, _ = face.aligned_box.crop_rect(w, h)
        c = crop_box(img, face.aligned_box)
        out.append(FaceCrop(crop=c, landmarks=(face.landmarks.positions - np.array([x, y])).astype(np.float32))
                   if c.size else FaceCrop())
    return out


__all__ = ["FaceCrop", "chain_options", "face_crops", "largest_face", "read_image"]
