"""face-api.js's call style, in Python: ``detect_all_faces(img, options).with_face_landmarks()...``
and the per-net shortcuts (``detect_landmarks(crop)``, ``compute_face_descriptor(crop)``, ...).

These use one shared `FaceAnalyzer` (face-api.js's ``nets`` singletons); pass ``analyzer=`` to use your
own, or call `set_default_analyzer`.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np

from faceapi.errors import FaceApiError
from faceapi.image import ImageInput, load_image
from faceapi.options import AnalyzeOptions, DetectorOptions, SsdMobilenetv1Options
from faceapi.pipeline import FaceAnalyzer
from faceapi.results import AgeGender, Detection, Expressions, Face, FrameResult

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

    def _with(self, **changes) -> FaceTask:
        return type(self)(self._image, replace(self._options, **changes), self._analyzer)

    def with_face_landmarks(self, tiny: bool = False) -> FaceTask:
        """Add 68 landmarks (``tiny=True``: FaceLandmark68TinyNet) and the aligned box."""
        return self._with(landmarks="tiny" if tiny else "full")

    def with_face_expressions(self) -> FaceTask:
        return self._with(expressions=True)

    def with_age_and_gender(self) -> FaceTask:
        return self._with(age_gender=True)

    def with_face_descriptors(self) -> FaceTask:
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

    def __iter__(self):
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
def _crops(images: ImageInput | list[ImageInput]) -> tuple[list[np.ndarray], bool]:
    if isinstance(images, list):
        return [load_image(i) for i in images], True
    return [load_image(images)], False


def detect_landmarks(crops: ImageInput | list[ImageInput], tiny: bool = False,
                     analyzer: FaceAnalyzer | None = None) -> np.ndarray | list[np.ndarray]:
    """68 landmarks ``(68, 2)`` in the crop's pixels, per crop (a list in, a list out)."""
    arrs, many = _crops(crops)
    out = (analyzer or default_analyzer()).net("face_landmark_68_tiny" if tiny else "face_landmark_68").predict(arrs)
    return out if many else out[0]


def predict_expressions(crops: ImageInput | list[ImageInput],
                        analyzer: FaceAnalyzer | None = None) -> Expressions | list[Expressions]:
    arrs, many = _crops(crops)
    out = (analyzer or default_analyzer()).net("face_expression").predict(arrs)
    return out if many else out[0]


def predict_age_and_gender(crops: ImageInput | list[ImageInput],
                           analyzer: FaceAnalyzer | None = None) -> AgeGender | list[AgeGender]:
    arrs, many = _crops(crops)
    out = (analyzer or default_analyzer()).net("age_gender").predict(arrs)
    return out if many else out[0]


def compute_face_descriptor(crops: ImageInput | list[ImageInput],
                            analyzer: FaceAnalyzer | None = None) -> np.ndarray | list[np.ndarray]:
    """128-d descriptor (float32) per crop."""
    arrs, many = _crops(crops)
    out = (analyzer or default_analyzer()).net("face_recognition").predict(arrs)
    return out if many else out[0]


def detect_faces(image: ImageInput, options: DetectorOptions | None = None,
                 analyzer: FaceAnalyzer | None = None) -> list[Detection]:
    """Detections only (face-api.js ``locateFaces``)."""
    analyzer = analyzer or default_analyzer()
    return analyzer.detect(load_image(image, analyzer.max_pixels), options or SsdMobilenetv1Options())
