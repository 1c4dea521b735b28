"""Option dataclasses, with face-api.js's defaults and validation. The options' type picks the detector."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

from faceapi.errors import OptionsError
from faceapi.option_schema import DEFAULTS, SPECS, Label, check_applies, field_label


@dataclass(frozen=True)
class SsdMobilenetv1Options:
    """SSD MobileNetV1: keep faces scoring above `min_confidence`, at most `max_results` of them."""

    min_confidence: float = DEFAULTS["min_score"]
    max_results: int = DEFAULTS["max_results"]

    def __post_init__(self) -> None:  # the rules of the option schema (min_score, max_results)
        SPECS["min_score"].check(self.min_confidence, lambda _: "SsdMobilenetv1Options.min_confidence")
        SPECS["max_results"].check(self.max_results, lambda _: "SsdMobilenetv1Options.max_results")


@dataclass(frozen=True)
class TinyFaceDetectorOptions:
    """Tiny Face Detector: input side `input_size` (a multiple of 32), faces scoring above `score_threshold`."""

    input_size: int = DEFAULTS["input_size"]
    score_threshold: float = DEFAULTS["min_score"]

    def __post_init__(self) -> None:  # the rules of the option schema (input_size, min_score)
        SPECS["input_size"].check(self.input_size, lambda _: "TinyFaceDetectorOptions.input_size")
        SPECS["min_score"].check(self.score_threshold, lambda _: "TinyFaceDetectorOptions.score_threshold")


DetectorOptions = SsdMobilenetv1Options | TinyFaceDetectorOptions

#: The detectors by their short names (settings, query parameters, the CLI's --detector).
DetectorKind = Literal["ssd", "tiny"]
#: Which landmark net runs (None: none).
LandmarksMode = Literal["full", "tiny"]
LANDMARK_MODES = (None, *get_args(LandmarksMode))
#: How a descriptor is compared with a person's samples: face-api.js's mean distance, or the closest one.
MatchStrategy = Literal["mean", "nearest"]
MATCH_STRATEGIES: tuple[str, ...] = get_args(MatchStrategy)
DEFAULT_DISTANCE_THRESHOLD: float = DEFAULTS["distance_threshold"]


@dataclass(frozen=True)
class MatchOptions:
    """How faces are recognised: a person's distance (by `strategy`) must be under `distance_threshold`
    (face-api.js's FaceMatcher: 0.6, mean distance to each person's descriptors)."""

    distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD
    strategy: MatchStrategy = "mean"

    def __post_init__(self) -> None:  # the rules of the option schema
        SPECS["distance_threshold"].check(self.distance_threshold)
        SPECS["match_strategy"].check(self.strategy)


@dataclass(frozen=True)
class AnalyzeOptions:
    """What `FaceAnalyzer.analyze` computes for every face.

    Expressions and age/gender are computed on the landmark-aligned box when landmarks are on, else on
    the detection box (as face-api.js does). Descriptors need landmarks (full by default).

    ``crop=True``: the image is a face crop already (such as the 150x150 photos of face-api.js's
    recognition example). No detector runs: the image is one face, box = the whole image, score 1.0, and
    every net sees the whole image, as face-api.js's per-net calls (``faceExpressionNet.predictExpressions
    (crop)``, ``computeFaceDescriptor(crop)``) do; descriptors need no landmarks then.
    """

    detector: DetectorOptions = field(default_factory=SsdMobilenetv1Options)
    landmarks: LandmarksMode | None = None
    expressions: bool = False
    age_gender: bool = False
    descriptors: bool = False
    single: bool = False  # only the best-scoring face (detectSingleFace)
    recognize: MatchOptions | None = None  # match every face against the analyzer's gallery/matcher
    crop: bool = False  # the image is a face crop: no detector, every net on the whole image
    liveness: bool = False  # live face or photo of one (MiniFASNet, `faceapi.liveness`): each face's `liveness`
    require_live: bool = False  # recognition names only live faces ("not live" otherwise); turns liveness on
    liveness_threshold: float | None = None  # a face is live when its score reaches this (None: the shipped one)
    #: which expression model (`faceapi.expression_models`; "faceapi": face-api.js's net, bit-identical)
    expression_model: str = "faceapi"
    #: add calibrated probabilities (temperature-scaled, same dominant label) to each face's expressions
    calibrated: bool = False

    def __post_init__(self) -> None:
        t = self.liveness_threshold
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1):
            raise OptionsError(f"AnalyzeOptions.liveness_threshold must be a number in [0, 1] or None, got {t!r}")
        def label(name: str) -> str:
            return f"AnalyzeOptions.{name}"

        for name in ("landmarks", "expressions", "age_gender", "descriptors", "single", "crop", "liveness",
                     "require_live", "calibrated"):  # the rules of the option schema
            SPECS[name].check(getattr(self, name), label)
        if not isinstance(self.detector, (SsdMobilenetv1Options, TinyFaceDetectorOptions)):
            raise OptionsError(f"AnalyzeOptions.detector must be detector options, got {type(self.detector).__name__}")
        if self.recognize is not None and not isinstance(self.recognize, MatchOptions):
            raise OptionsError(f"AnalyzeOptions.recognize must be MatchOptions or None, got {self.recognize!r}")
        from faceapi import expression_models

        expression_models.get(self.expression_model)

    @property
    def effective_landmarks(self) -> LandmarksMode | None:
        """Descriptors need landmarks (full ones when none were asked for), except on a crop: there the
        descriptor is of the whole image."""
        if self.needs_descriptors and self.landmarks is None and not self.crop:
            return "full"
        return self.landmarks

    @property
    def needs_liveness(self) -> bool:
        """Liveness runs when asked for, and when recognition or enrolment requires a live face."""
        return self.liveness or self.require_live

    @property
    def needs_descriptors(self) -> bool:
        """Descriptors are computed when asked for, and for recognition."""
        return self.descriptors or self.recognize is not None

    @classmethod
    def from_dict(cls, d: dict[str, Any], label: Label = field_label) -> AnalyzeOptions:
        """Build from JSON-style settings (the server's and CLI's), each value checked by the option schema
        (`faceapi.option_schema`), refusing unknown keys and options of another detector; errors name the
        option by `label` (``min_score``; the CLI's ``--min-score``).

        Keys: detector ("ssd" | "tiny"), input_size (tiny), min_score (the detector's threshold),
        max_results (ssd), landmarks (null | "full" | "tiny"), expressions, age_gender, descriptors, single,
        recognize (bool), distance_threshold and match_strategy (how to recognise; only with recognize),
        crop, liveness and require_live (bool), expression_model (str, default "faceapi") and calibrated.
        """
        unknown = set(d) - set(SPECS)
        if unknown:
            raise OptionsError(f"unknown option(s) {sorted(unknown)}; known: {sorted(SPECS)}")
        given = dict(d)
        if given.get("landmarks") in ("", "off", "none", False):
            given["landmarks"] = None
        v = {name: SPECS[name].check(value, label) for name, value in given.items()}
        kind = v.get("detector", DEFAULTS["detector"])
        check_applies(v, kind, label)
        o = {**DEFAULTS, **v}
        if kind == "ssd":
            det: DetectorOptions = SsdMobilenetv1Options(min_confidence=o["min_score"], max_results=o["max_results"])
        else:
            det = TinyFaceDetectorOptions(input_size=o["input_size"], score_threshold=o["min_score"])
        recognize = None
        if o["recognize"]:
            recognize = MatchOptions(distance_threshold=o["distance_threshold"], strategy=o["match_strategy"])
        elif "distance_threshold" in d or "match_strategy" in d:
            raise OptionsError(f"{label('distance_threshold')} and {label('match_strategy')} apply only with "
                               f"{label('recognize')}")
        flags = {k: o[k] for k in ("expressions", "age_gender", "descriptors", "single", "crop", "liveness",
                                   "require_live", "calibrated")}
        return cls(detector=det, landmarks=o["landmarks"], recognize=recognize,
                   expression_model=o["expression_model"], **flags)

    def to_dict(self) -> dict[str, Any]:
        det = self.detector
        d: dict[str, Any] = {"landmarks": self.landmarks, "expressions": self.expressions,
                             "age_gender": self.age_gender, "descriptors": self.descriptors, "single": self.single,
                             "recognize": self.recognize is not None, "liveness": self.liveness,
                             "require_live": self.require_live, "expression_model": self.expression_model,
                             "calibrated": self.calibrated}
        if self.crop:  # only when on: the server's settings (which have no crop) read as before
            d["crop"] = True
        if self.recognize is not None:
            d.update(distance_threshold=self.recognize.distance_threshold, match_strategy=self.recognize.strategy)
        if isinstance(det, SsdMobilenetv1Options):
            d.update(detector="ssd", min_score=det.min_confidence, max_results=det.max_results)
        else:
            d.update(detector="tiny", input_size=det.input_size, min_score=det.score_threshold)
        return d


@dataclass(frozen=True)
class TrackingOptions:
    """How `faceapi.tracking.FaceTracker` follows faces from frame to frame (the live stream, videos).

    Smoothing (`smoothing` False: the engine's values as they are, ids and detector scheduling still apply):
        min_cutoff, beta, d_cutoff: the One Euro filter of boxes and landmarks (Hz; beta in Hz per px/s):
            a still face steadies at `min_cutoff`, the cutoff rises by `beta` per px/s of speed, and the
            speed itself is low-passed at `d_cutoff`. 4 Hz rather than the One Euro paper's 1 Hz: with 1 Hz
            the speed estimate is slow to follow a face that turns back, and the overlay trailed it by up
            to 12-16 px meanwhile (a 240 px/s face answered 5-15 times a second); 4 Hz keeps that under
            4-9 px, as steady when still (benchmarks/bench_smoothing.py).
        expression_alpha: weight of a new frame in the exponential smoothing of expression probabilities
            (after a warm-up, restarted by a change detector: `faceapi.tracking.expressions`).
        age_alpha: the same for age and the probability of the gender (the gender is the likelier one).
    The detector (`FaceTracker` runs it on the first frame, then only when needed):
        detect_every: also every this many frames (0: not by count), to find faces that came into view.
        detect_ms: also when this many ms passed since it last ran (0: not by time).
        scene_change: also when the mean absolute difference of two consecutive frames' grey thumbnails
            (0-255) is above this (0: never); a cut or a camera switch.
    Ids:
        iou_threshold: a detection continues a track whose box it overlaps by this IoU at least.
        reid_seconds: a track not seen for up to this long can be taken up again (by IoU, or by descriptor).
        reid_distance: largest descriptor distance to take up a track by descriptor (descriptors on).
    """

    smoothing: bool = True
    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 4.0
    expression_alpha: float = 0.3
    age_alpha: float = 0.2
    detect_every: int = 10
    detect_ms: float = 1000.0
    scene_change: float = 20.0
    iou_threshold: float = 0.3
    reid_seconds: float = 2.0
    reid_distance: float = 0.6

    def __post_init__(self) -> None:
        def number(name: str, lo: float, hi: float, lo_open: bool = False) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo < v if lo_open else lo <= v) \
                    or not v <= hi:
                raise OptionsError(f"tracking option {name} must be a number in {'(' if lo_open else '['}{lo}, "
                                   f"{hi}], got {v!r}")

        if not isinstance(self.smoothing, bool):
            raise OptionsError(f"tracking option smoothing must be true or false, got {self.smoothing!r}")
        number("min_cutoff", 0, 1000, lo_open=True)
        number("beta", 0, 1000)
        number("d_cutoff", 0, 1000, lo_open=True)
        number("expression_alpha", 0, 1, lo_open=True)
        number("age_alpha", 0, 1, lo_open=True)
        if isinstance(self.detect_every, bool) or not isinstance(self.detect_every, int) \
                or not 0 <= self.detect_every <= 100_000:
            raise OptionsError(f"tracking option detect_every must be an integer >= 0, got {self.detect_every!r}")
        number("detect_ms", 0, 3_600_000)
        number("scene_change", 0, 255)
        number("iou_threshold", 0, 1, lo_open=True)
        number("reid_seconds", 0, 3600)
        number("reid_distance", 0, 10)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrackingOptions:
        """From JSON-style settings (the stream's ``tracking_options``), refusing unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise OptionsError(f"unknown tracking option(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["AnalyzeOptions", "DetectorKind", "DetectorOptions", "LandmarksMode", "MatchOptions", "MatchStrategy",
           "SsdMobilenetv1Options", "TinyFaceDetectorOptions", "TrackingOptions", "asdict"]
