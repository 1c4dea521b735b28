"""Comparing faces: `verify` (are two faces the same person?) and `find` (the faces in images, or the people in
a gallery, nearest to a face).

Both describe faces the one way the project does (`faceapi.gallery.describe_face` for the query: exactly one
face, or a whole crop; `FaceAnalyzer.analyze` with descriptors for the images searched) and compare them by
face-api.js's rule: the Euclidean distance of two 128-d descriptors, "the same person" below the threshold
(0.6, `FaceMatcher`'s). Against a gallery the distance to a person is `FaceMatcher`'s (mean over their
samples, or the nearest one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faceapi.errors import FaceApiError, ModelError, OptionsError
from faceapi.image import ImageInput
from faceapi.matching import euclidean_distance
from faceapi.options import (
    DEFAULT_DISTANCE_THRESHOLD,
    AnalyzeOptions,
    DetectorOptions,
    MatchOptions,
    MatchStrategy,
    SsdMobilenetv1Options,
)
from faceapi.results import Box

if TYPE_CHECKING:
    import numpy as np

    from faceapi.gallery import Gallery
    from faceapi.pipeline import FaceAnalyzer

#: False-match rate of face-api.js's descriptor at a distance threshold: threshold -> (rate, where it was
#: measured). 22 of LFW fold 1's 281 different-person pairs lie within 0.6 (95 % Wilson interval 5.2-11.6 %),
#: on 350x350 gray tight crops described as crops (tests/test_compare.py measures it again and compares).
FALSE_MATCH_RATES: dict[float, tuple[float, str]] = {
    0.6: (22 / 281, "LFW fold 1, 281 different-person pairs, gray tight crops: "
                    "faceapi eval verification ../shared/eval/verification/lfw-fold1 --crop"),
}


def false_match_rate(threshold: float) -> tuple[float, str] | None:
    """The measured false-match rate at `threshold` and where it was measured, or None when not known."""
    return FALSE_MATCH_RATES.get(threshold)


@dataclass(frozen=True)
class Verification:
    """The answer of `verify`: whether two faces are the same person by face-api.js's rule.

    Attributes:
        same: ``distance < threshold``.
        distance: Euclidean distance of the two descriptors.
        threshold: the distance threshold used.
        false_match_rate: how often two different people are within `threshold` of each other, measured on
            `measured_on`; None where it is not known (see `FALSE_MATCH_RATES`).
        measured_on: the data set and command of `false_match_rate` (None with it).
    """

    same: bool
    distance: float
    threshold: float
    false_match_rate: float | None = None
    measured_on: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"same": self.same, "distance": self.distance, "threshold": self.threshold,
                "false_match_rate": self.false_match_rate, "measured_on": self.measured_on}


@dataclass(frozen=True)
class Found:
    """One face (in an image) or person (in a gallery) near the query face.

    Attributes:
        distance: to the query's descriptor (for a person: `FaceMatcher`'s, by the strategy).
        same: ``distance < threshold``: the same person by face-api.js's rule.
        source: the image the face is in, or the gallery file the person is in.
        face: which face of that image (the detector's order; 0 with ``crop=True``); None for a person.
        box: where that face is in the image (the whole image with ``crop=True``); None for a person.
        person: the gallery person's name; None for a face in an image.
    """

    distance: float
    same: bool
    source: str
    face: int | None = None
    box: Box | None = None
    person: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"distance": self.distance, "same": self.same, "source": self.source, "face": self.face,
                "box": self.box.to_dict() if self.box is not None else None, "person": self.person}


@dataclass(frozen=True)
class NotSearched:
    """An input `find` could not search (`status` "error": unreadable; "skipped": not an image)."""

    source: str
    status: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class FindResult:
    """The answer of `find`: the nearest faces and people, nearest first, and what was searched.

    Attributes:
        matches: at most `top` of them, nearest first (ties: in the order searched).
        threshold: the distance threshold `Found.same` was decided with.
        images, faces, people: how many images were searched, faces described in them, gallery people.
        not_searched: inputs that were unreadable (errors) or not images (skipped), in input order.
    """

    matches: tuple[Found, ...]
    threshold: float
    images: int
    faces: int
    people: int
    not_searched: tuple[NotSearched, ...] = ()

    @property
    def failed(self) -> int:
        return sum(1 for n in self.not_searched if n.status == "error")

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold,
                "searched": {"images": self.images, "faces": self.faces, "people": self.people},
                "matches": [{"rank": i, **m.to_dict()} for i, m in enumerate(self.matches, start=1)],
                "not_searched": [n.to_dict() for n in self.not_searched]}


def _check_threshold(threshold: float) -> float:
    return MatchOptions(distance_threshold=threshold).distance_threshold  # the one check of a threshold


def describe_query(analyzer: FaceAnalyzer, image: ImageInput, *, crop: bool, detector: DetectorOptions | None,
                   purpose: str) -> np.ndarray:
    """The descriptor of the one face in `image` (or of the whole crop): `faceapi.gallery.describe_face`.
    Raises FaceCountError (a FaceApiError) when the image does not show exactly one face."""
    from faceapi.gallery.enrol import describe_face

    return describe_face(analyzer, image, crop=crop, detector=detector, purpose=purpose).descriptor


def _analyzer(analyzer: FaceAnalyzer | None) -> FaceAnalyzer:
    from faceapi.api import default_analyzer

    return analyzer if analyzer is not None else default_analyzer()


def verify(image_a: ImageInput, image_b: ImageInput, *, crop: bool = False,
           threshold: float = DEFAULT_DISTANCE_THRESHOLD, detector: DetectorOptions | None = None,
           analyzer: FaceAnalyzer | None = None) -> Verification:
    """Are the faces in two images the same person?

    Each image must show exactly one face (``crop=True``: each image is a face crop, described whole, as
    face-api.js's recognition example does). The answer is face-api.js's rule: the same person when the
    descriptors' Euclidean distance is below `threshold`.

    Raises:
        FaceCountError: an image shows no face or several (the message says how many, and suggests crop).
        ImageError: an image cannot be read.
        OptionsError: a threshold outside (0, 10].
    """
    threshold = _check_threshold(threshold)
    a = _analyzer(analyzer)
    da = describe_query(a, image_a, crop=crop, detector=detector, purpose="an image to verify")
    db = describe_query(a, image_b, crop=crop, detector=detector, purpose="an image to verify")
    distance = euclidean_distance(da, db)
    known = false_match_rate(threshold)
    return Verification(distance < threshold, distance, threshold, *(known if known else (None, None)))


def find(face: ImageInput, paths: Iterable[str | os.PathLike[str]] = (), *, gallery: Gallery | None = None,
         crop: bool = False, face_crop: bool | None = None, top: int | None = None,
         threshold: float = DEFAULT_DISTANCE_THRESHOLD, strategy: MatchStrategy = "mean",
         detector: DetectorOptions | None = None, analyzer: FaceAnalyzer | None = None,
         progress: Callable[[int, int], None] | None = None) -> FindResult:
    """The faces in `paths` (images, and folders searched recursively for images) and the people in
    `gallery` nearest to the one face in `face`, nearest first.

    Args:
        face: an image showing exactly one face (or, with `crop`, a face crop).
        paths: images and folders to search; every face found in them is a candidate. Files of other types
            in a folder, and videos, are reported in `FindResult.not_searched` as skipped; unreadable images
            as errors; nothing is left out silently.
        gallery: also rank the gallery's people (their distance by `strategy`: mean over their samples, as
            face-api.js's FaceMatcher, or the nearest sample).
        crop: the images searched are face crops: no detector, each image is one face.
        face_crop: the query image is a face crop (default: as `crop`), e.g. a crop of someone looked for
            in group photos.
        top: at most this many matches (None: all).
        threshold: `Found.same` is ``distance < threshold``.
        progress: ``progress(done, total)`` after each image searched.

    Raises:
        FaceCountError: the query image shows no face or several.
        ImageError: the query image cannot be read.
        OptionsError: bad `top` or `threshold`; nothing to search.
        ModelNotFoundError / ModelError: weights missing.
    """
    from faceapi.batch.inputs import expand_inputs

    threshold = _check_threshold(threshold)
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise OptionsError(f"top must be a whole number >= 1 or None, got {top!r}")
    items = expand_inputs(paths)
    if not items and gallery is None:
        raise OptionsError("find: nothing to search: give images or folders, or a gallery")
    a = _analyzer(analyzer)
    query = describe_query(a, face, crop=crop if face_crop is None else face_crop, detector=detector,
                           purpose="the face to find")

    found: list[Found] = []
    people = 0
    if gallery is not None:
        matcher = gallery.matcher(threshold, strategy)
        people = len(matcher)
        source = str(gallery.path)
        found.extend(Found(m.distance, m.distance < threshold, source, person=m.label)
                     for m in matcher.nearest(query, top))

    options = AnalyzeOptions(detector=detector or SsdMobilenetv1Options(), landmarks=None if crop else "full",
                             descriptors=True, crop=crop)
    not_searched: list[NotSearched] = []
    images = [item for item in items if item.kind in ("image", "auto")]
    faces = unreadable = 0
    for item in items:
        if item.kind == "error":
            not_searched.append(NotSearched(item.path, "error", item.reason or "cannot be read"))
        elif item.kind == "skip":
            not_searched.append(NotSearched(item.path, "skipped", item.reason or "not an image"))
        elif item.kind == "video":
            not_searched.append(NotSearched(item.path, "skipped", "a video: find searches images"))
    for done, item in enumerate(images, start=1):
        try:
            result = a.analyze(item.path, options)
        except ModelError:
            raise
        except FaceApiError as exc:
            unreadable += 1
            not_searched.append(NotSearched(item.path, "error", str(exc)))
        except Exception as exc:  # a file that breaks a decoder must not stop the search
            unreadable += 1
            not_searched.append(NotSearched(item.path, "error", f"{item.path}: {type(exc).__name__}: {exc}"))
        else:
            for i, f in enumerate(result.faces):
                if f.descriptor is None:  # said, not dropped silently
                    not_searched.append(NotSearched(item.path, "skipped",
                                                    f"face {i} is too close to the image's edge to be described"))
                    continue
                faces += 1
                d = euclidean_distance(query, f.descriptor)
                found.append(Found(d, d < threshold, item.path, face=i, box=f.detection.box))
        if progress is not None:
            progress(done, len(images))
    found.sort(key=lambda f: f.distance)  # stable: ties stay in the order searched
    searched_order = {str(item.path): i for i, item in enumerate(items)}
    not_searched.sort(key=lambda n: searched_order.get(n.source, len(items)))
    return FindResult(tuple(found[:top] if top is not None else found), threshold, len(images) - unreadable,
                      faces, people, tuple(not_searched))


__all__ = ["FALSE_MATCH_RATES", "FindResult", "Found", "NotSearched", "Verification", "describe_query",
           "false_match_rate", "find", "verify"]
