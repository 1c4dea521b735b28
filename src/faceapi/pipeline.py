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
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar, overload

import numpy as np

from faceapi import expression_models
from faceapi.engine.preprocess import batch_net_input, compile_resize
from faceapi.engine.runtime import RuntimeConfig
from faceapi.errors import OptionsError
from faceapi.image import DEFAULT_MAX_PIXELS, ImageInput, load_image
from faceapi.matching import FaceMatcher, MatcherSource
from faceapi.nets import ALL_SPECS, NET_SPECS, spec
from faceapi.nets.age_gender import AgeGenderNet
from faceapi.nets.base import OnnxNet
from faceapi.nets.face_expression import FaceExpressionNet
from faceapi.nets.face_landmark_68 import FaceLandmark68Net, FaceLandmark68TinyNet
from faceapi.nets.face_recognition import INPUT_SIZE as RECOGNITION_INPUT
from faceapi.nets.face_recognition import FaceRecognitionNet
from faceapi.nets.feature_extractor import INPUT_SIZE as FEATURE_INPUT
from faceapi.nets.ssd_mobilenetv1 import SsdMobilenetv1
from faceapi.nets.tiny_face_detector import TinyFaceDetector
from faceapi.options import AnalyzeOptions, DetectorKind, LandmarksMode, SsdMobilenetv1Options, TinyFaceDetectorOptions
from faceapi.results import Box, Detection, Face, FrameResult, Landmarks68

#: The detector and landmark net of each mode (`DetectorKind`, `LandmarksMode`).
DETECTOR_NETS: dict[DetectorKind, str] = {"ssd": "ssd_mobilenetv1", "tiny": "tiny_face_detector"}
LANDMARK_NETS: dict[LandmarksMode, str] = {"full": "face_landmark_68", "tiny": "face_landmark_68_tiny"}

N = TypeVar("N", bound=OnnxNet)

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
        """Names of the nets loaded so far, in `ALL_SPECS` order."""
        return [s.name for s in ALL_SPECS if s.name in self._nets]

    @staticmethod
    def nets_for(options: AnalyzeOptions) -> list[str]:
        """The nets `analyze` needs for these options, in `NET_SPECS` order."""
        wanted = set() if options.crop else {
            DETECTOR_NETS["ssd" if isinstance(options.detector, SsdMobilenetv1Options) else "tiny"]}
        lm = options.effective_landmarks
        if lm:
            wanted.add(LANDMARK_NETS[lm])
        if options.expressions:
            wanted.add("face_expression")
        if options.age_gender:
            wanted.add("age_gender")
        if options.needs_descriptors:
            wanted.add("face_recognition")
        if options.needs_liveness:
            wanted.update(s.name for s in ALL_SPECS if s.kind == "liveness")
        return [s.name for s in ALL_SPECS if s.name in wanted]

    # -- the chain ----------------------------------------------------------------------------------
    def detect(self, image: np.ndarray, detector: SsdMobilenetv1Options | TinyFaceDetectorOptions) -> list[Detection]:
        if isinstance(detector, SsdMobilenetv1Options):
            return self.detector("ssd").detect(image, detector)
        return self.detector("tiny").detect(image, detector)

    def analyze(self, image: ImageInput, options: AnalyzeOptions | None = None,
                matcher: MatcherSource | None = None, *, regions: Sequence[Detection] | None = None) -> FrameResult:
        """Detect faces and compute what `options` asks for.

        With `options.recognize`, descriptors are computed (whatever `options.descriptors` says) and each
        face gets its best match (a label or "unknown") against `matcher` (default: the analyzer's). Every
        analysis that names faces comes through here (the CLI, REST's analyze, the stream); ``POST
        /api/people/match``, which names the one face of an upload, uses the same `FaceMatcher` and the
        same not-live rule (server/routers/people.py).

        `regions`: face boxes known already (a tracker's, from the previous frame's landmarks): the detector
        does not run (no "detect" timing) and the rest of the chain runs on these boxes exactly as on the
        detector's (`options.single` still keeps the best-scoring one). Their `image_width`/`image_height`
        must be the image's size.

        The chain is two halves, each usable alone (`FaceTracker` decides between them whether the faces
        found are plausible): `locate` (detector or regions, then landmarks) and `describe` (the per-face
        stages of `FACE_STAGES`, then recognition), each run once per image.

        Raises:
            ImageError: the input is not a usable image.
            OptionsError: recognition asked for without a matcher.
            ModelNotFoundError / ModelError: a needed net's weights are missing or corrupt.
        """
        options, face_matcher = self.recognition(options or AnalyzeOptions(), matcher)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        img = load_image(image, self.max_pixels)
        timings["decode"] = (time.perf_counter() - t0) * 1000
        h, w = img.shape[:2]
        faces = self.locate(img, options, regions, timings)
        faces = self.describe(img, faces, options, face_matcher, timings)
        timings["total"] = (time.perf_counter() - t0) * 1000
        return FrameResult(w, h, tuple(faces), timings)

    def recognition(self, options: AnalyzeOptions, matcher: MatcherSource | None = None
                    ) -> tuple[AnalyzeOptions, FaceMatcher | None]:
        """The options `describe` runs with and the matcher it recognises against: with `options.recognize`,
        descriptors on and the matcher of `matcher` (default: the analyzer's) at the options' threshold.

        Raises:
            OptionsError: recognition asked for without a matcher.
        """
        if options.recognize is None:
            return options, None
        source = matcher if matcher is not None else self.matcher
        if source is None:
            raise OptionsError("recognition needs a gallery or a FaceMatcher: none was given to the analyzer")
        face_matcher = source.matcher(options.recognize.distance_threshold, options.recognize.strategy)
        return (options if options.descriptors else replace(options, descriptors=True)), face_matcher

    def locate(self, img: np.ndarray, options: AnalyzeOptions, regions: Sequence[Detection] | None = None,
               timings: dict[str, float] | None = None) -> list[Face]:
        """The chain's first half on a decoded RGB image (`load_image`): the detector (or the given
        `regions`, see `analyze`), `options.single`, then the landmarks (when the options ask for them) of
        every face. Stage times (ms) go into `timings` ("detect", "landmarks")."""
        timings = {} if timings is None else timings
        h, w = img.shape[:2]
        if options.crop:  # the image is the face (face-api.js's per-net calls on a crop)
            detections = [Detection(Box(0.0, 0.0, float(w), float(h)), 1.0, w, h)]
        elif regions is None:
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
        return faces

    def describe(self, img: np.ndarray, faces: Sequence[Face], options: AnalyzeOptions,
                 face_matcher: FaceMatcher | None = None, timings: dict[str, float] | None = None) -> list[Face]:
        """The chain's second half on faces `locate` found (and a caller accepted): each stage of
        `FACE_STAGES` the options want, once, as one batch, on crops cut once per box kind and prepared once
        per input size for all the stages that share them; then recognition against `face_matcher` (see
        `recognition`). Stage times (ms) go into `timings` under the stages' names and "recognize"."""
        timings = {} if timings is None else timings
        out = list(faces)
        if not out:
            return out
        crops: dict[str, FaceCrops] = {}
        for stage in FACE_STAGES:
            if not stage.wanted(options):
                continue
            t = time.perf_counter()
            # on a crop every net sees the whole image (face-api.js's per-net calls)
            box_kind = "detection" if options.crop else stage.crop
            face_crops = crops.get(box_kind)
            if face_crops is None:
                face_crops = crops[box_kind] = FaceCrops(img, out, CROP_BOXES[box_kind])
            if face_crops.indices:
                for i, result in zip(face_crops.indices, stage.run(self, face_crops, options)):
                    out[i] = stage.apply(out[i], result)
            timings[stage.name] = (time.perf_counter() - t) * 1000
        described = [(i, f.descriptor) for i, f in enumerate(out) if f.descriptor is not None]
        if face_matcher is not None and described:
            t = time.perf_counter()
            matches = face_matcher.match_descriptors(np.stack([d for _, d in described]))
            for (i, _), m in zip(described, matches):
                out[i] = out[i].with_(match=m)
            timings["recognize"] = (time.perf_counter() - t) * 1000
        if options.needs_liveness and out:  # after recognition: require_live may take a name back
            from faceapi.liveness import apply_liveness

            t = time.perf_counter()
            out = apply_liveness(self, img, out, options)
            timings["liveness"] = (time.perf_counter() - t) * 1000
        return out

    def _add_landmarks(self, img: np.ndarray, faces: list[Face], mode: LandmarksMode) -> list[Face]:
        h, w = img.shape[:2]
        located = FaceCrops(img, faces, _detection_box)
        idx, crops = located.indices, located.crops
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


# -- the per-face stages -------------------------------------------------------------------------------
def _aligned_or_detection(face: Face) -> Box:
    """Expressions and age/gender: the landmark-aligned box when there is one (face-api.js)."""
    return face.aligned_box if face.aligned_box is not None else face.detection.box


def _detection_box(face: Face) -> Box:
    return face.detection.box


#: The boxes per-face stages crop (`FaceStage.crop`). A face without such a box (no landmarks for the
#: descriptor's square) or whose box lies wholly outside the image is left out of the stage.
CROP_BOXES: dict[str, Callable[[Face], Box | None]] = {
    "detection": _detection_box, "aligned": _aligned_or_detection, "dlib": _dlib_box,
}


class FaceCrops:
    """The faces' crops of one box kind, cut once per image (face-api.js's rounding, `crop`), and their net
    inputs (centred pad to a square, tfjs bilinear resize) prepared once per size: the stages reading the
    same box at the same size share one input batch.

    Attributes:
        indices: which faces have a non-empty crop.
        crops: their crops, views into the image (not copies), in that order.
    """

    def __init__(self, img: np.ndarray, faces: Sequence[Face], box_of: Callable[[Face], Box | None]) -> None:
        self.indices: list[int] = []
        self.crops: list[np.ndarray] = []
        for i, f in enumerate(faces):
            box = box_of(f)
            if box is None:
                continue
            c = crop(img, box)
            if c.size:
                self.indices.append(i)
                self.crops.append(c)
        self._inputs: dict[int, np.ndarray] = {}

    def net_input(self, size: int) -> np.ndarray:
        """``[N, size, size, 3]`` float32 raw pixels: the input of face-api.js's face nets of that size."""
        found = self._inputs.get(size)
        if found is None:
            found = self._inputs[size] = batch_net_input(self.crops, size, centred=True)
        return found


@dataclass(frozen=True)
class FaceStage:
    """One per-face net of the chain's second half (`FaceAnalyzer.describe`): it runs once per image, as
    one batch, on the crops of the faces a caller accepted.

    Attributes:
        name: its key in the timings.
        wanted: whether the options ask for it.
        crop: the box it reads (a `CROP_BOXES` key); stages reading one box share its `FaceCrops`.
        run: (analyzer, crops, options) -> one result per crop, in ``crops.indices`` order.
        apply: (face, result) -> the face with the result recorded.
    """

    name: str
    wanted: Callable[[AnalyzeOptions], bool]
    crop: str
    run: Callable[[FaceAnalyzer, FaceCrops, AnalyzeOptions], Sequence[Any]]
    apply: Callable[[Face, Any], Face]


#: The per-face stages, in the order they run (after the landmarks, before recognition). Another per-face
#: net plugs in here: one `FaceStage` entry, its logic in its own module.
FACE_STAGES: list[FaceStage] = [
    FaceStage("expressions", lambda o: o.expressions, "aligned",
              lambda a, c, o: expression_models.predict_input(a, c.net_input(FEATURE_INPUT), o.expression_model,
                                                             o.calibrated),
              lambda f, r: f.with_(expressions=r)),
    FaceStage("age_gender", lambda o: o.age_gender, "aligned",
              lambda a, c, o: a.age_gender_net().predict_input(c.net_input(FEATURE_INPUT)),
              lambda f, r: f.with_(age_gender=r)),
    FaceStage("descriptors", lambda o: o.descriptors, "dlib",
              lambda a, c, o: a.recognition_net().predict_input(c.net_input(RECOGNITION_INPUT)),
              lambda f, r: f.with_(descriptor=r)),
]
