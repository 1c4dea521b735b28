"""face-api.js's call style, in Python: ``detect_all_faces(img, options).with_face_landmarks()...``
and the per-net shortcuts (``detect_landmarks(crop)``, ``compute_face_descriptor(crop)``, ...).

These use one shared `FaceAnalyzer` (face-api.js's ``nets`` singletons); pass ``analyzer=`` to use your
own, or call `set_default_analyzer`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, TypeVar, overload

import numpy as np

from faceapi.errors import FaceApiError
from faceapi.image import ImageInput, load_image
from faceapi.options import AnalyzeOptions, DetectorOptions, SsdMobilenetv1Options
from faceapi.pipeline import FaceAnalyzer
from faceapi.results import AgeGender, Detection, Expressions, Face, FrameResult

R = TypeVar("R")
T = TypeVar("T", bound="FaceTask")

_default: FaceAnalyzer | None = None
_default_lock = threading.Lock()


def default_analyzer() -> FaceAnalyzer:
    """The shared analyzer (models from $FACEAPI_MODELS or the user cache), created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = FaceAnalyzer()
        return _default


def set_default_analyzer(analyzer: FaceAnalyzer) -> None:
    global _default
    with _default_lock:
        _default = analyzer


class FaceTask:
    """A lazily evaluated chain, as face-api.js's ``DetectAllFacesTask``; runs on `run()` or iteration."""

    def __init__(self, image: ImageInput, options: AnalyzeOptions, analyzer: FaceAnalyzer | None):
        self._image = image
        self._options = options
        self._analyzer = analyzer
        self._result: FrameResult | None = None

    def _with(self: T, **changes: Any) -> T:
        return type(self)(self._image, replace(self._options, **changes), self._analyzer)

    def with_face_landmarks(self: T, tiny: bool = False) -> T:
        """Add 68 landmarks (``tiny=True``: FaceLandmark68TinyNet) and the aligned box."""
        return self._with(landmarks="tiny" if tiny else "full")

    def with_face_expressions(self: T) -> T:
        return self._with(expressions=True)

    def with_age_and_gender(self: T) -> T:
        return self._with(age_gender=True)

    def with_face_descriptors(self: T) -> T:
        """Add 128-d descriptors; like face-api.js, only after `with_face_landmarks`."""
        if self._options.landmarks is None:
            raise FaceApiError("with_face_descriptors() needs with_face_landmarks() first (as in face-api.js)")
        return self._with(descriptors=True)

    with_face_descriptor = with_face_descriptors

    def frame(self) -> FrameResult:
        """The whole result (faces, image size, per-stage timings)."""
        if self._result is None:
            self._result = (self._analyzer or default_analyzer()).analyze(self._image, self._options)
        return self._result


class AllFacesTask(FaceTask):
    def run(self) -> list[Face]:
        return list(self.frame().faces)

    def __iter__(self) -> Iterator[Face]:
        return iter(self.run())

    def __len__(self) -> int:
        return len(self.frame().faces)

    def __getitem__(self, i: int) -> Face:
        return self.frame().faces[i]


class SingleFaceTask(FaceTask):
    def run(self) -> Face | None:
        faces = self.frame().faces
        return faces[0] if faces else None


def detect_all_faces(image: ImageInput, options: DetectorOptions | None = None,
                     analyzer: FaceAnalyzer | None = None) -> AllFacesTask:
    """All faces (SSD MobileNetV1 by default; `TinyFaceDetectorOptions` picks the tiny detector)."""
    return AllFacesTask(image, AnalyzeOptions(detector=options or SsdMobilenetv1Options()), analyzer)


def detect_single_face(image: ImageInput, options: DetectorOptions | None = None,
                       analyzer: FaceAnalyzer | None = None) -> SingleFaceTask:
    """The best-scoring face, or None (``run()``)."""
    return SingleFaceTask(image, AnalyzeOptions(detector=options or SsdMobilenetv1Options(), single=True), analyzer)


# -- per-net shortcuts: each runs one net on whole images (crops you bring), batched --------------------
# One crop in gives one result; a list in gives a list (face-api.js's single vs batch input).
def _crops(images: ImageInput | list[ImageInput]) -> list[np.ndarray]:
    return [load_image(i) for i in images] if isinstance(images, list) else [load_image(images)]


def _one_or_all(images: ImageInput | list[ImageInput], results: list[R]) -> R | list[R]:
    return results if isinstance(images, list) else results[0]


@overload
def detect_landmarks(crops: list[ImageInput], tiny: bool = False,
                     analyzer: FaceAnalyzer | None = None) -> list[np.ndarray]: ...
@overload
def detect_landmarks(crops: ImageInput, tiny: bool = False, analyzer: FaceAnalyzer | None = None) -> np.ndarray: ...


def detect_landmarks(crops: ImageInput | list[ImageInput], tiny: bool = False,
                     analyzer: FaceAnalyzer | None = None) -> np.ndarray | list[np.ndarray]:
    """68 landmarks ``(68, 2)`` in the crop's pixels, per crop (a list in, a list out)."""
    net = (analyzer or default_analyzer()).landmark_net("tiny" if tiny else "full")
    return _one_or_all(crops, net.predict(_crops(crops)))


@overload
def predict_expressions(crops: list[ImageInput], analyzer: FaceAnalyzer | None = None) -> list[Expressions]: ...
@overload
def predict_expressions(crops: ImageInput, analyzer: FaceAnalyzer | None = None) -> Expressions: ...


def predict_expressions(crops: ImageInput | list[ImageInput],
                        analyzer: FaceAnalyzer | None = None) -> Expressions | list[Expressions]:
    """Expression probabilities per crop (a list in, a list out)."""
    net = (analyzer or default_analyzer()).expression_net()
    return _one_or_all(crops, net.predict(_crops(crops)))


@overload
def predict_age_and_gender(crops: list[ImageInput], analyzer: FaceAnalyzer | None = None) -> list[AgeGender]: ...
@overload
def predict_age_and_gender(crops: ImageInput, analyzer: FaceAnalyzer | None = None) -> AgeGender: ...


def predict_age_and_gender(crops: ImageInput | list[ImageInput],
                           analyzer: FaceAnalyzer | None = None) -> AgeGender | list[AgeGender]:
    """Age and gender per crop (a list in, a list out)."""
    net = (analyzer or default_analyzer()).age_gender_net()
    return _one_or_all(crops, net.predict(_crops(crops)))


@overload
def compute_face_descriptor(crops: list[ImageInput], analyzer: FaceAnalyzer | None = None) -> list[np.ndarray]: ...
@overload
def compute_face_descriptor(crops: ImageInput, analyzer: FaceAnalyzer | None = None) -> np.ndarray: ...


def compute_face_descriptor(crops: ImageInput | list[ImageInput],
                            analyzer: FaceAnalyzer | None = None) -> np.ndarray | list[np.ndarray]:
    """128-d descriptor (float32) per crop (a list in, a list out)."""
    net = (analyzer or default_analyzer()).recognition_net()
    return _one_or_all(crops, net.predict(_crops(crops)))


def detect_faces(image: ImageInput, options: DetectorOptions | None = None,
                 analyzer: FaceAnalyzer | None = None) -> list[Detection]:
    """Detections only (face-api.js ``locateFaces``)."""
    analyzer = analyzer or default_analyzer()
    return analyzer.detect(load_image(image, analyzer.max_pixels), options or SsdMobilenetv1Options())
