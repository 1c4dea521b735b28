"""faceapi: face-api.js's pretrained nets (detection, 68 landmarks, expressions, age and gender,
128-d descriptors) reimplemented on numpy + onnxruntime, numerically matching face-api.js 0.22.2.

    import faceapi
    faces = faceapi.detect_all_faces("photo.jpg").with_face_landmarks().with_face_expressions().run()
    faceapi.FaceAnalyzer().analyze("photo.jpg", faceapi.AnalyzeOptions(landmarks="full", expressions=True))
"""

__version__ = "0.1.0"

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
from faceapi.runtime import RuntimeConfig

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
    "compute_face_descriptor",
    "default_analyzer",
    "detect_all_faces",
    "detect_faces",
    "detect_landmarks",
    "detect_single_face",
    "draw",
    "euclidean_distance",
    "extract_faces",
    "load_image",
    "predict_age_and_gender",
    "predict_expressions",
    "set_default_analyzer",
    "__version__",
]
