"""`FaceAnalyzer`: face-api.js's task chain (detect -> landmarks -> align -> expressions, age/gender,
descriptors) over the nets, with every face of an image going through each net as one batch.

The rules for crops and alignment are face-api.js's tensor path (spec 5.4-5.7): crops are clipped and
floored integer slices of the image, landmarks are shifted by the unfloored detection origin, expressions
and age/gender use the landmark-aligned box (min bbox padded by 20 %), descriptors use the dlib-style
square from the eye and mouth centres.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Literal, TypeVar, overload

import numpy as np

from faceapi import expression_models
from faceapi.engine.preprocess import compile_resize
from faceapi.engine.runtime import OnnxNet, RuntimeConfig
from faceapi.errors import OptionsError
from faceapi.image import DEFAULT_MAX_PIXELS, ImageInput, load_image
from faceapi.matching import FaceMatcher, MatcherSource
from faceapi.nets import NET_SPECS, spec
from faceapi.nets.age_gender import AgeGenderNet
from faceapi.nets.face_expression import FaceExpressionNet
from faceapi.nets.face_landmark_68 import FaceLandmark68Net, FaceLandmark68TinyNet
from faceapi.nets.face_recognition import FaceRecognitionNet
from faceapi.nets.ssd_mobilenetv1 import SsdMobilenetv1
from faceapi.nets.tiny_face_detector import TinyFaceDetector
from faceapi.options import AnalyzeOptions, DetectorKind, LandmarksMode, SsdMobilenetv1Options, TinyFaceDetectorOptions
from faceapi.results import Box, Detection, Face, FrameResult, Landmarks68

#: The detector and landmark net of each mode (`DetectorKind`, `LandmarksMode`).
DETECTOR_NETS: dict[DetectorKind, str] = {"ssd": "ssd_mobilenetv1", "tiny": "tiny_face_detector"}
LANDMARK_NETS: dict[LandmarksMode, str] = {"full": "face_landmark_68", "tiny": "face_landmark_68_tiny"}

N = TypeVar("N", bound=OnnxNet)
R = TypeVar("R")

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

    def __init__(self, models_dir: str | os.PathLike[str] | None = None, runtime: RuntimeConfig | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, matcher: MatcherSource | None = None):
        self.models_dir = models_dir
        self.runtime = runtime
        self.max_pixels = max_pixels
        self.matcher = matcher
        self._nets: dict[str, OnnxNet] = {}
        self._lock = threading.Lock()

    # -- nets ---------------------------------------------------------------------------------------
    @overload
    def net(self, name: Literal["ssd_mobilenetv1"]) -> SsdMobilenetv1: ...
    @overload
    def net(self, name: Literal["tiny_face_detector"]) -> TinyFaceDetector: ...
    @overload
    def net(self, name: Literal["face_landmark_68"]) -> FaceLandmark68Net: ...
    @overload
    def net(self, name: Literal["face_landmark_68_tiny"]) -> FaceLandmark68TinyNet: ...
    @overload
    def net(self, name: Literal["face_expression"]) -> FaceExpressionNet: ...
    @overload
    def net(self, name: Literal["age_gender"]) -> AgeGenderNet: ...
    @overload
    def net(self, name: Literal["face_recognition"]) -> FaceRecognitionNet: ...
    @overload
    def net(self, name: str) -> OnnxNet: ...

    def net(self, name: str) -> OnnxNet:
        """The loaded net called `name` (a `faceapi.nets.NET_SPECS` name), loading it if needed.

        Raises:
            OptionsError: no net has that name.
            ModelNotFoundError / ModelError: its weights are missing or corrupt.
        """
        found = self._nets.get(name)
        if found is not None:
            return found
        net_spec = spec(name)
        with self._lock:
            if name not in self._nets:
                self._nets[name] = net_spec.net_class(self.models_dir, self.runtime)
            return self._nets[name]

    def _typed(self, name: str, cls: type[N]) -> N:
        net = self.net(name)
        if not isinstance(net, cls):  # cannot happen while the specs are right; says so if they are not
            raise TypeError(f"net {name!r} is a {type(net).__name__}, not a {cls.__name__}")
        return net

    @overload
    def detector(self, kind: Literal["ssd"]) -> SsdMobilenetv1: ...
    @overload
    def detector(self, kind: Literal["tiny"]) -> TinyFaceDetector: ...

    def detector(self, kind: DetectorKind) -> SsdMobilenetv1 | TinyFaceDetector:
        """The detector of a `DetectorKind` ("ssd" or "tiny"), loaded."""
        if kind == "ssd":
            return self._typed(DETECTOR_NETS[kind], SsdMobilenetv1)
        if kind == "tiny":
            return self._typed(DETECTOR_NETS[kind], TinyFaceDetector)
        raise OptionsError(f"detector must be 'ssd' or 'tiny', got {kind!r}")

    def landmark_net(self, mode: LandmarksMode) -> FaceLandmark68Net | FaceLandmark68TinyNet:
        """The landmark net of a `LandmarksMode` ("full" or "tiny"), loaded."""
        if mode == "full":
            return self._typed(LANDMARK_NETS[mode], FaceLandmark68Net)
        if mode == "tiny":
            return self._typed(LANDMARK_NETS[mode], FaceLandmark68TinyNet)
        raise OptionsError(f"landmarks must be 'full' or 'tiny', got {mode!r}")

    def expression_net(self) -> FaceExpressionNet:
        return self._typed("face_expression", FaceExpressionNet)

    def age_gender_net(self) -> AgeGenderNet:
        return self._typed("age_gender", AgeGenderNet)

    def recognition_net(self) -> FaceRecognitionNet:
        return self._typed("face_recognition", FaceRecognitionNet)

    def load(self, names: Iterable[str] | None = None, progress: Progress | None = None) -> None:
        """Load nets now (all by default) instead of on first use; `progress(name, i, total)` before each.
        Also compiles the inputs' resize (`compile_resize`), which would otherwise delay the first frame."""
        todo = [spec(n).name for n in names] if names is not None else [s.name for s in NET_SPECS]
        for i, name in enumerate(todo):
            if progress:
                progress(name, i, len(todo))
            self.net(name)
        compile_resize()

    @property
    def loaded(self) -> list[str]:
        """Names of the nets loaded so far, in `NET_SPECS` order."""
        return [s.name for s in NET_SPECS if s.name in self._nets]

    @staticmethod
    def nets_for(options: AnalyzeOptions) -> list[str]:
        """The nets `analyze` needs for these options, in `NET_SPECS` order."""
        wanted = {DETECTOR_NETS["ssd" if isinstance(options.detector, SsdMobilenetv1Options) else "tiny"]}
        lm = options.effective_landmarks
        if lm:
            wanted.add(LANDMARK_NETS[lm])
        if options.expressions:
            wanted.add("face_expression")
        if options.age_gender:
            wanted.add("age_gender")
        if options.needs_descriptors:
            wanted.add("face_recognition")
        return [s.name for s in NET_SPECS if s.name in wanted]

    # -- the chain ----------------------------------------------------------------------------------
    def detect(self, image: np.ndarray, detector: SsdMobilenetv1Options | TinyFaceDetectorOptions) -> list[Detection]:
        if isinstance(detector, SsdMobilenetv1Options):
            return self.detector("ssd").detect(image, detector)
        return self.detector("tiny").detect(image, detector)

    def analyze(self, image: ImageInput, options: AnalyzeOptions | None = None,
                matcher: MatcherSource | None = None, *, regions: Sequence[Detection] | None = None) -> FrameResult:
        """Detect faces and compute what `options` asks for.

        With `options.recognize`, descriptors are computed (whatever `options.descriptors` says) and each
        face gets its best match (a label or "unknown") against `matcher` (default: the analyzer's). This is
        the one place faces are recognised: the CLI, REST and the stream all come through here.

        `regions`: face boxes known already (a tracker's, from the previous frame's landmarks): the detector
        does not run (no "detect" timing) and the rest of the chain runs on these boxes exactly as on the
        detector's (`options.single` still keeps the best-scoring one). Their `image_width`/`image_height`
        must be the image's size.

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

        if regions is None:
            t = time.perf_counter()
            detections = self.detect(img, options.detector)
            timings["detect"] = (time.perf_counter() - t) * 1000
        else:
            detections = list(regions)
            for d in detections:
                if (d.image_width, d.image_height) != (w, h):
                    raise OptionsError(f"a region is for a {d.image_width}x{d.image_height} image, this one is {w}x{h}")
        if options.single and detections:
            best = detections[0]
            for d in detections[1:]:
                if d.score > best.score:  # strictly greater: ties keep the first (detectSingleFace)
                    best = d
            detections = [best]
        faces = [Face(detection=d) for d in detections]

        lm_mode = options.effective_landmarks
        if lm_mode and faces:
            t = time.perf_counter()
            faces = self._add_landmarks(img, faces, lm_mode)
            timings["landmarks"] = (time.perf_counter() - t) * 1000
        if options.expressions and faces:
            t = time.perf_counter()
            predict_expressions = expression_models.predictor(self, options)  # face-api.js's net by default
            for i, e in self._run(img, faces, self._aligned_or_detection, predict_expressions):
                faces[i] = faces[i].with_(expressions=e)
            timings["expressions"] = (time.perf_counter() - t) * 1000
        if options.age_gender and faces:
            t = time.perf_counter()
            for i, ag in self._run(img, faces, self._aligned_or_detection, self.age_gender_net().predict):
                faces[i] = faces[i].with_(age_gender=ag)
            timings["age_gender"] = (time.perf_counter() - t) * 1000
        if options.descriptors and faces:
            t = time.perf_counter()
            for i, desc in self._run(img, faces, _dlib_box, self.recognition_net().predict):
                faces[i] = faces[i].with_(descriptor=desc)
            timings["descriptors"] = (time.perf_counter() - t) * 1000
        described = [(i, f.descriptor) for i, f in enumerate(faces) if f.descriptor is not None]
        if face_matcher is not None and described:
            t = time.perf_counter()
            have = [i for i, _ in described]
            matches = face_matcher.match_descriptors(np.stack([d for _, d in described]))
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
        idx: list[int] = []
        crops: list[np.ndarray] = []
        for i, f in enumerate(faces):
            box = box_of(f)
            if box is None:
                continue
            c = crop(img, box)
            if c.size:
                idx.append(i)
                crops.append(c)
        return idx, crops

    def _run(self, img: np.ndarray, faces: list[Face], box_of: Callable[[Face], Box | None],
             predict: Callable[[Sequence[np.ndarray]], list[R]]) -> list[tuple[int, R]]:
        """One net on the faces' crops as one batch: (face index, result) for each face that has a crop."""
        idx, crops = self._crops(img, faces, box_of)
        return list(zip(idx, predict(crops))) if crops else []

    def _add_landmarks(self, img: np.ndarray, faces: list[Face], mode: LandmarksMode) -> list[Face]:
        h, w = img.shape[:2]
        idx, crops = self._crops(img, faces, lambda f: f.detection.box)
        if not crops:
            return faces
        net = self.landmark_net(mode)
        out = list(faces)
        for i, c, pts in zip(idx, crops, net.predict(crops)):
            det = faces[i].detection
            shift = (det.box.x, det.box.y)  # unfloored, unclipped detection origin (face-api.js)
            positions = np.asarray(pts, dtype=np.float64) + np.array(shift)
            lm = Landmarks68(positions, shift, c.shape[1], c.shape[0])
            out[i] = faces[i].with_(landmarks=lm, aligned_box=aligned_box(positions, w, h))
        return out
