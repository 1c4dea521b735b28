"""`FaceAnalyzer`: face-api.js's task chain (detect -> landmarks -> align -> expressions, age/gender,
descriptors) over the nets, with every face of an image going through each net as one batch.

The rules for crops and alignment are face-api.js's tensor path (spec 5.4-5.7): crops are clipped and
floored integer slices of the image, landmarks are shifted by the unfloored detection origin, expressions
and age/gender use the landmark-aligned box (min bbox padded by 20 %), descriptors use the dlib-style
square from the eye and mouth centres.
"""

from __future__ import annotations

import importlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from faceapi.engine.runtime import RuntimeConfig
from faceapi.errors import OptionsError
from faceapi.image import DEFAULT_MAX_PIXELS, ImageInput, load_image
from faceapi.matching import FaceMatcher, MatcherSource
from faceapi.options import AnalyzeOptions, SsdMobilenetv1Options, TinyFaceDetectorOptions
from faceapi.results import Box, Detection, Face, FrameResult, Landmarks68

#: Public net name -> (module, class). The model files are in faceapi.models.MODELS.
NETS: dict[str, tuple[str, str]] = {
    "ssd_mobilenetv1": ("faceapi.nets.ssd_mobilenetv1", "SsdMobilenetv1"),
    "tiny_face_detector": ("faceapi.nets.tiny_face_detector", "TinyFaceDetector"),
    "face_landmark_68": ("faceapi.nets.face_landmark_68", "FaceLandmark68Net"),
    "face_landmark_68_tiny": ("faceapi.nets.face_landmark_68", "FaceLandmark68TinyNet"),
    "face_expression": ("faceapi.nets.face_expression", "FaceExpressionNet"),
    "age_gender": ("faceapi.nets.age_gender", "AgeGenderNet"),
    "face_recognition": ("faceapi.nets.face_recognition", "FaceRecognitionNet"),
}

Progress = Callable[[str, int, int], None]  # (net name, index, total)


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """face-api.js ``extractFaceTensors`` for one box: clip to the image, floor, slice (no resampling)."""
    h, w = image.shape[:2]
    x, y, cw, ch = box.crop_rect(w, h)
    return image[y : y + max(ch, 0), x : x + max(cw, 0)]


def extract_faces(image: ImageInput, boxes: Iterable[Box | Detection]) -> list[np.ndarray]:
    """Crop each box (or detection) out of an image, face-api.js's tensor-path rounding."""
    img = load_image(image)
    return [crop(img, b.box if isinstance(b, Detection) else b) for b in boxes]


def aligned_box(landmarks: np.ndarray, image_width: int, image_height: int) -> Box:
    """``alignedRect``: min bbox of the landmarks padded by 20 % (face-api.js's ``minBbox`` quirk: the
    max starts at 0), passed through relative coordinates as face-api.js does."""
    xs, ys = landmarks[:, 0], landmarks[:, 1]
    min_x, min_y = float(xs.min()), float(ys.min())
    max_x, max_y = max(0.0, float(xs.max())), max(0.0, float(ys.max()))
    rect = Box(min_x, min_y, max_x - min_x, max_y - min_y)
    rect = rect.padded(rect.width * 0.2, rect.height * 0.2)
    return rect.scaled(1 / image_width, 1 / image_height).scaled(image_width, image_height)


def _centre(points: np.ndarray) -> tuple[float, float]:
    sx = sy = 0.0
    for px, py in points:  # sequential sum, as face-api.js's getCenterPoint
        sx += float(px)
        sy += float(py)
    return sx / len(points), sy / len(points)


def dlib_aligned_box(landmarks: Landmarks68) -> Box:
    """``landmarks.align(null, {useDlibAlignment: true})``: the square the descriptor is computed on."""
    pos = landmarks.positions
    le, re, mo = _centre(pos[36:42]), _centre(pos[42:48]), _centre(pos[48:68])
    dist = (math.hypot(mo[0] - le[0], mo[1] - le[1]) + math.hypot(mo[0] - re[0], mo[1] - re[1])) / 2
    size = math.floor(dist / 0.45)
    ref_x = (le[0] + re[0] + mo[0]) / 3
    ref_y = (le[1] + re[1] + mo[1]) / 3
    x = math.floor(max(0.0, ref_x - 0.5 * size))
    y = math.floor(max(0.0, ref_y - 0.43 * size))
    return Box(x, y, min(size, landmarks.crop_width + x), min(size, landmarks.crop_height + y))


def _dlib_box(face: Face) -> Box | None:
    """Descriptors: the dlib-style square from the landmarks (none without landmarks)."""
    return dlib_aligned_box(face.landmarks) if face.landmarks is not None else None


class FaceAnalyzer:
    """Runs face-api.js's nets on images. Nets are loaded on first use (or by `load`) and shared.

    Thread-safe: sessions are shared between threads; loading is guarded by a lock.

    Args:
        models_dir: model folder (default: $FACEAPI_MODELS, then the user cache; see `faceapi models`).
        runtime: onnxruntime threads and providers.
        max_pixels: inputs with more pixels are refused with ImageError.
        matcher: whom `analyze` recognises faces against when its options ask for it (`recognize`): a
            `FaceMatcher`, or a `faceapi.gallery.Gallery` (anything with `matcher(threshold, strategy)`).
    """

    def __init__(self, models_dir: str | os.PathLike | None = None, runtime: RuntimeConfig | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, matcher: MatcherSource | None = None):
        self.models_dir = models_dir
        self.runtime = runtime
        self.max_pixels = max_pixels
        self.matcher = matcher
        self._nets: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- nets ---------------------------------------------------------------------------------------
    def net(self, name: str) -> Any:
        """The loaded net called `name` (see `NETS`), loading it if needed."""
        found = self._nets.get(name)
        if found is not None:
            return found
        if name not in NETS:
            raise KeyError(f"unknown net {name!r}; known: {', '.join(NETS)}")
        with self._lock:
            if name not in self._nets:
                module, cls = NETS[name]
                self._nets[name] = getattr(importlib.import_module(module), cls)(self.models_dir, self.runtime)
            return self._nets[name]

    def load(self, names: Iterable[str] | None = None, progress: Progress | None = None) -> None:
        """Load nets now (all by default) instead of on first use; `progress(name, i, total)` before each."""
        todo = list(names) if names is not None else list(NETS)
        for i, name in enumerate(todo):
            if progress:
                progress(name, i, len(todo))
            self.net(name)

    @property
    def loaded(self) -> list[str]:
        return [n for n in NETS if n in self._nets]

    @staticmethod
    def nets_for(options: AnalyzeOptions) -> list[str]:
        """The nets `analyze` needs for these options."""
        names = ["ssd_mobilenetv1" if isinstance(options.detector, SsdMobilenetv1Options) else "tiny_face_detector"]
        lm = options.effective_landmarks
        if lm:
            names.append("face_landmark_68" if lm == "full" else "face_landmark_68_tiny")
        if options.expressions:
            names.append("face_expression")
        if options.age_gender:
            names.append("age_gender")
        if options.needs_descriptors:
            names.append("face_recognition")
        return names

    # -- the chain ----------------------------------------------------------------------------------
    def detect(self, image: np.ndarray, detector: SsdMobilenetv1Options | TinyFaceDetectorOptions) -> list[Detection]:
        if isinstance(detector, SsdMobilenetv1Options):
            return self.net("ssd_mobilenetv1").detect(image, detector)
        return self.net("tiny_face_detector").detect(image, detector)

    def analyze(self, image: ImageInput, options: AnalyzeOptions | None = None,
                matcher: MatcherSource | None = None) -> FrameResult:
        """Detect faces and compute what `options` asks for.

        With `options.recognize`, descriptors are computed (whatever `options.descriptors` says) and each
        face gets its best match (a label or "unknown") against `matcher` (default: the analyzer's). This is
        the one place faces are recognised: the CLI, REST and the stream all come through here.

        Raises:
            ImageError: the input is not a usable image.
            OptionsError: recognition asked for without a matcher.
            ModelNotFoundError / ModelError: a needed net's weights are missing or corrupt.
        """
        options = options or AnalyzeOptions()
        face_matcher: FaceMatcher | None = None
        if options.recognize is not None:
            source = matcher if matcher is not None else self.matcher
            if source is None:
                raise OptionsError("recognition needs a gallery or a FaceMatcher: none was given to the analyzer")
            face_matcher = source.matcher(options.recognize.distance_threshold, options.recognize.strategy)
            if not options.descriptors:
                options = replace(options, descriptors=True)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        img = load_image(image, self.max_pixels)
        timings["decode"] = (time.perf_counter() - t0) * 1000
        h, w = img.shape[:2]

        t = time.perf_counter()
        detections = self.detect(img, options.detector)
        if options.single and detections:
            best = detections[0]
            for d in detections[1:]:
                if d.score > best.score:  # strictly greater: ties keep the first (detectSingleFace)
                    best = d
            detections = [best]
        timings["detect"] = (time.perf_counter() - t) * 1000
        faces = [Face(detection=d) for d in detections]

        lm_mode = options.effective_landmarks
        # (stage, wanted, net, the box each face is cropped to, the Face field the net's output fills)
        stages = (
            ("expressions", options.expressions, "face_expression", self._aligned_or_detection, "expressions"),
            ("age_gender", options.age_gender, "age_gender", self._aligned_or_detection, "age_gender"),
            ("descriptors", options.descriptors, "face_recognition", _dlib_box, "descriptor"),
        )
        if lm_mode and faces:
            t = time.perf_counter()
            faces = self._add_landmarks(img, faces, tiny=lm_mode == "tiny")
            timings["landmarks"] = (time.perf_counter() - t) * 1000
        for stage, wanted, net, box_of, field_name in stages:
            if not (wanted and faces):
                continue
            t = time.perf_counter()
            idx, crops = self._crops(img, faces, box_of)
            if crops:
                for i, value in zip(idx, self.net(net).predict(crops)):
                    faces[i] = faces[i].with_(**{field_name: value})
            timings[stage] = (time.perf_counter() - t) * 1000
        have = [i for i, f in enumerate(faces) if f.descriptor is not None]
        if face_matcher is not None and have:
            t = time.perf_counter()
            matches = face_matcher.match_descriptors(np.stack([faces[i].descriptor for i in have]))
            for i, m in zip(have, matches):
                faces[i] = faces[i].with_(match=m)
            timings["recognize"] = (time.perf_counter() - t) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        return FrameResult(w, h, tuple(faces), timings)

    @staticmethod
    def _aligned_or_detection(face: Face) -> Box:
        """Expressions and age/gender: the landmark-aligned box when there is one (face-api.js)."""
        return face.aligned_box if face.aligned_box is not None else face.detection.box

    @staticmethod
    def _crops(img: np.ndarray, faces: list[Face], box_of: Callable[[Face], Box | None]
               ) -> tuple[list[int], list[np.ndarray]]:
        """Non-empty crops of the faces' boxes, with their indices. A face without such a box (no
        landmarks for the descriptor) or whose box lies wholly outside the image keeps its earlier results."""
        idx, crops = [], []
        for i, f in enumerate(faces):
            box = box_of(f)
            if box is None:
                continue
            c = crop(img, box)
            if c.size:
                idx.append(i)
                crops.append(c)
        return idx, crops

    def _add_landmarks(self, img: np.ndarray, faces: list[Face], tiny: bool) -> list[Face]:
        h, w = img.shape[:2]
        idx, crops = self._crops(img, faces, lambda f: f.detection.box)
        if not crops:
            return faces
        net = self.net("face_landmark_68_tiny" if tiny else "face_landmark_68")
        out = list(faces)
        for i, c, pts in zip(idx, crops, net.predict(crops)):
            det = faces[i].detection
            shift = (det.box.x, det.box.y)  # unfloored, unclipped detection origin (face-api.js)
            positions = np.asarray(pts, dtype=np.float64) + np.array(shift)
            lm = Landmarks68(positions, shift, c.shape[1], c.shape[0])
            out[i] = faces[i].with_(landmarks=lm, aligned_box=aligned_box(positions, w, h))
        return out
