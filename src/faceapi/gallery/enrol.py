"""Enrolment from images: the descriptor of the one face in each image, then one gallery transaction.

face-api.js's way of building references for `FaceMatcher` is
``detectSingleFace(img).withFaceLandmarks().withFaceDescriptor()`` per labelled image; `describe_face` is
that, refusing images without exactly one face instead of picking one, or (``crop=True``) the descriptor
of the whole image for photos that are face crops already, as face-api.js's recognition example does.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from faceapi.errors import FaceCountError, GalleryError, OptionsError
from faceapi.gallery.store import EnrolResult, GalleryStore
from faceapi.gallery.validation import check_name
from faceapi.image import ImageInput, describe, load_image
from faceapi.options import AnalyzeOptions, DetectorOptions, SsdMobilenetv1Options
from faceapi.results import Liveness

if TYPE_CHECKING:
    from faceapi.pipeline import FaceAnalyzer


def image_sha256(source: ImageInput, pixels: np.ndarray | None = None) -> str:
    """SHA-256 of an image's file bytes (paths, bytes), else of its decoded RGB pixels and shape."""
    if isinstance(source, (str, os.PathLike)):
        h = hashlib.sha256()
        with open(source, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    if isinstance(source, (bytes, bytearray, memoryview)):
        return hashlib.sha256(source).hexdigest()
    arr = pixels if pixels is not None else load_image(source)
    return hashlib.sha256(repr(arr.shape).encode() + np.ascontiguousarray(arr).tobytes()).hexdigest()


@dataclass(frozen=True)
class DescribedImage:
    """One enrolment image: its name (for messages), SHA-256 and descriptor, and the face's liveness when
    it was asked for."""

    source: str
    sha256: str
    descriptor: np.ndarray
    liveness: Liveness | None = None


def describe_face(analyzer: FaceAnalyzer, image: ImageInput, *, crop: bool = False,
                  detector: DetectorOptions | None = None, label: str | None = None,
                  purpose: str = "an enrolment image", liveness: bool = False,
                  require_live: bool = False, pixels: np.ndarray | None = None) -> DescribedImage:
    """The descriptor of the one face in `image`.

    Without `crop`, the image must show exactly one face (detector, 68 landmarks, descriptor on the
    dlib-aligned crop, as face-api.js's ``detectSingleFace().withFaceLandmarks().withFaceDescriptor()``),
    else `FaceCountError` (a GalleryError) saying how many faces were found. With ``crop=True`` the image is
    taken to be a face crop already and described whole, as face-api.js's face recognition example does.
    `label` names the image in error messages (default: its path, or a short description), `purpose` what
    the image is for ("an enrolment image", "an image to verify", ...).
    `liveness` judges the face (`DescribedImage.liveness`); `require_live` refuses a face judged not live
    with `NotLiveError` (a GalleryError, saying the score). Neither works on a crop: the liveness nets look
    at the face's surroundings. `pixels`: `image` decoded already (the server's decode workers do it); the
    image still names and hashes it (the SHA-256 of its bytes, as when it is decoded here).
    """
    name = label or describe(image)
    if crop and (liveness or require_live):
        raise OptionsError(f"{name}: liveness needs the whole photo around the face, not a face crop "
                           f"(leave out crop / --crop)")
    pixels = load_image(image, analyzer.max_pixels) if pixels is None else pixels
    sha = image_sha256(image, pixels)
    if crop:
        desc = analyzer.net("face_recognition").predict([pixels])[0]
        return DescribedImage(name, sha, np.asarray(desc, dtype=np.float32))
    options = AnalyzeOptions(detector=detector or SsdMobilenetv1Options(), landmarks="full", descriptors=True,
                             liveness=liveness or require_live)
    faces = analyzer.analyze(pixels, options).faces
    if len(faces) != 1:
        if not faces:
            raise FaceCountError(f"{name}: no face found; {purpose} must show exactly one face "
                                 f"(if it is already a face crop, use --crop / crop=True)", 0)
        raise FaceCountError(f"{name}: {len(faces)} faces found; {purpose} must show exactly one face "
                             f"(crop the person out first)", len(faces))
    if faces[0].descriptor is None:
        raise GalleryError(f"{name}: the face is too close to the edge to be described; use a photo with "
                           f"margin around the face")
    if require_live:
        from faceapi.liveness import check_live

        check_live(faces[0], name)
    return DescribedImage(name, sha, np.asarray(faces[0].descriptor, dtype=np.float32), faces[0].liveness)


def enrol_images(analyzer: FaceAnalyzer, gallery: GalleryStore, name: str, images: Iterable[ImageInput], *,
                 crop: bool = False, detector: DetectorOptions | None = None,
                 progress: Callable[[DescribedImage, int, int], None] | None = None, append: bool = True,
                 max_distance: float | None = None, require_live: bool = False) -> EnrolResult:
    """Describe every image (see `describe_face`), then enrol all the descriptors under `name` in one
    transaction. Nothing is written unless every image is usable. `append` and `max_distance` are
    `Gallery.enrol`'s: whether an existing person may get more samples, and how far from their samples a new
    one may be. `require_live`: every face must be judged live (else `NotLiveError`, nothing enrolled).

    Raises:
        GalleryError: an image without exactly one face (saying how many were found), a bad name.
        ImageError: an image that cannot be read.
    """
    clean = check_name(name)
    todo = list(images)
    if not todo:
        raise GalleryError(f"nothing to enrol for {clean!r}: no images given")
    described = []
    for i, image in enumerate(todo):
        d = describe_face(analyzer, image, crop=crop, detector=detector, require_live=require_live)
        described.append(d)
        if progress:
            progress(d, i, len(todo))
    return gallery.enrol(clean, [d.descriptor for d in described], [d.sha256 for d in described], append=append,
                         max_distance=max_distance)


__all__ = ["DescribedImage", "describe_face", "enrol_images", "image_sha256"]
