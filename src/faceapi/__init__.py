"""faceapi: face-api.js's pretrained nets (detection, 68 landmarks, expressions, age and gender,
128-d descriptors) reimplemented on numpy + onnxruntime, numerically matching face-api.js 0.22.2.

    import faceapi
    faces = faceapi.detect_all_faces("photo.jpg").with_face_landmarks().with_face_expressions().run()
    faceapi.FaceAnalyzer().analyze("photo.jpg", faceapi.AnalyzeOptions(landmarks="full", expressions=True))
    faceapi.verify("a.jpg", "b.jpg").same              # the same person? (face-api.js's 0.6 rule)
    faceapi.find("me.jpg", ["photos/"]).matches        # the nearest faces in a folder

The names below are imported on first use (PEP 562), so that ``import faceapi`` and ``faceapi --version``
stay fast and a module that needs only `faceapi.errors` does not load onnxruntime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ["compute_face_descriptor", "default_analyzer", "detect_all_faces", "detect_faces", "detect_landmarks",
         "detect_single_face", "predict_age_and_gender", "predict_expressions", "set_default_analyzer"],
        "faceapi.api"),
    **dict.fromkeys(["FaceApiError", "ImageError", "ModelError", "ModelNotFoundError", "OptionsError"],
                    "faceapi.errors"),
    "load_image": "faceapi.image",
    **dict.fromkeys(["FindResult", "Found", "Verification", "find", "verify"], "faceapi.compare"),
    **dict.fromkeys(["FaceMatcher", "LabeledFaceDescriptors", "euclidean_distance"], "faceapi.matching"),
    **dict.fromkeys(["AnalyzeOptions", "SsdMobilenetv1Options", "TinyFaceDetectorOptions"], "faceapi.options"),
    **dict.fromkeys(["FaceAnalyzer", "extract_faces"], "faceapi.pipeline"),
    **dict.fromkeys(["EXPRESSION_LABELS", "AgeGender", "Box", "Detection", "Expressions", "Face", "FaceMatch",
                     "FrameResult", "Landmarks68"], "faceapi.results"),
    "RuntimeConfig": "faceapi.engine.runtime",
}
_SUBMODULES = {"draw"}

__all__ = [
    "EXPRESSION_LABELS",
    "AgeGender",
    "AnalyzeOptions",
    "Box",
    "Detection",
    "Expressions",
    "Face",
    "FaceAnalyzer",
    "FaceApiError",
    "FaceMatch",
    "FaceMatcher",
    "FindResult",
    "Found",
    "FrameResult",
    "ImageError",
    "LabeledFaceDescriptors",
    "Landmarks68",
    "ModelError",
    "ModelNotFoundError",
    "OptionsError",
    "RuntimeConfig",
    "SsdMobilenetv1Options",
    "TinyFaceDetectorOptions",
    "Verification",
    "compute_face_descriptor",
    "default_analyzer",
    "detect_all_faces",
    "detect_faces",
    "detect_landmarks",
    "detect_single_face",
    "draw",
    "euclidean_distance",
    "extract_faces",
    "find",
    "load_image",
    "predict_age_and_gender",
    "predict_expressions",
    "set_default_analyzer",
    "verify",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"faceapi.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'faceapi' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from faceapi import draw
    from faceapi.api import (
        compute_face_descriptor,
        default_analyzer,
        detect_all_faces,
        detect_faces,
        detect_landmarks,
        detect_single_face,
        predict_age_and_gender,
        predict_expressions,
        set_default_analyzer,
    )
    from faceapi.compare import FindResult, Found, Verification, find, verify
    from faceapi.engine.runtime import RuntimeConfig
    from faceapi.errors import FaceApiError, ImageError, ModelError, ModelNotFoundError, OptionsError
    from faceapi.image import load_image
    from faceapi.matching import FaceMatcher, LabeledFaceDescriptors, euclidean_distance
    from faceapi.options import AnalyzeOptions, SsdMobilenetv1Options, TinyFaceDetectorOptions
    from faceapi.pipeline import FaceAnalyzer, extract_faces
    from faceapi.results import (
        EXPRESSION_LABELS,
        AgeGender,
        Box,
        Detection,
        Expressions,
        Face,
        FaceMatch,
        FrameResult,
        Landmarks68,
    )
