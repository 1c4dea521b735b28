"""Option dataclasses, with face-api.js's defaults and validation. The options' type picks the detector."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from faceapi.errors import OptionsError


@dataclass(frozen=True)
class SsdMobilenetv1Options:
    """SSD MobileNetV1: keep faces scoring above `min_confidence`, at most `max_results` of them."""

    min_confidence: float = 0.5
    max_results: int = 100

    def __post_init__(self):
        if not 0 < self.min_confidence < 1:
            raise OptionsError(f"SsdMobilenetv1Options.min_confidence must be in (0, 1), got {self.min_confidence}")
        if self.max_results < 1:
            raise OptionsError(f"SsdMobilenetv1Options.max_results must be >= 1, got {self.max_results}")


@dataclass(frozen=True)
class TinyFaceDetectorOptions:
    """Tiny Face Detector: input side `input_size` (a multiple of 32), faces scoring above `score_threshold`."""

    input_size: int = 416
    score_threshold: float = 0.5

    def __post_init__(self):
        if self.input_size <= 0 or self.input_size % 32 != 0:
            raise OptionsError(
                f"TinyFaceDetectorOptions.input_size must be a positive multiple of 32 "
                f"(e.g. 128, 224, 320, 416, 512, 608), got {self.input_size}"
            )
        if not 0 < self.score_threshold < 1:
            raise OptionsError(
                f"TinyFaceDetectorOptions.score_threshold must be in (0, 1), got {self.score_threshold}"
            )


DetectorOptions = SsdMobilenetv1Options | TinyFaceDetectorOptions

LANDMARK_MODES = (None, "full", "tiny")


@dataclass(frozen=True)
class AnalyzeOptions:
    """What `FaceAnalyzer.analyze` computes for every face.

    Expressions and age/gender are computed on the landmark-aligned box when landmarks are on, else on
    the detection box (as face-api.js does). Descriptors need landmarks (full by default).
    """

    detector: DetectorOptions = field(default_factory=SsdMobilenetv1Options)
    landmarks: str | None = None  # None, "full" or "tiny"
    expressions: bool = False
    age_gender: bool = False
    descriptors: bool = False
    single: bool = False  # only the best-scoring face (detectSingleFace)

    def __post_init__(self):
        if self.landmarks not in LANDMARK_MODES:
            raise OptionsError(f"AnalyzeOptions.landmarks must be None, 'full' or 'tiny', got {self.landmarks!r}")
        if not isinstance(self.detector, (SsdMobilenetv1Options, TinyFaceDetectorOptions)):
            raise OptionsError(f"AnalyzeOptions.detector must be detector options, got {type(self.detector).__name__}")

    @property
    def effective_landmarks(self) -> str | None:
        """Descriptors need landmarks: full ones when none were asked for."""
        if self.descriptors and self.landmarks is None:
            return "full"
        return self.landmarks

    @classmethod
    def from_dict(cls, d: dict) -> AnalyzeOptions:
        """Build from JSON-style settings (the server's and CLI's), refusing unknown keys.

        Keys: detector ("ssd" | "tiny"), input_size, min_score (the detector's threshold), max_results,
        landmarks (null | "full" | "tiny"), expressions, age_gender, descriptors, single.
        """
        known = {"detector", "input_size", "min_score", "max_results", "landmarks", "expressions",
                 "age_gender", "descriptors", "single"}
        unknown = set(d) - known
        if unknown:
            raise OptionsError(f"unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
        kind = d.get("detector", "ssd")
        try:
            if kind == "ssd":
                det: DetectorOptions = SsdMobilenetv1Options(
                    min_confidence=float(d.get("min_score", 0.5)), max_results=int(d.get("max_results", 100)))
            elif kind == "tiny":
                det = TinyFaceDetectorOptions(
                    input_size=int(d.get("input_size", 416)), score_threshold=float(d.get("min_score", 0.5)))
            else:
                raise OptionsError(f"detector must be 'ssd' or 'tiny', got {kind!r}")
        except (TypeError, ValueError) as exc:
            if isinstance(exc, OptionsError):
                raise
            raise OptionsError(f"bad detector option: {exc}") from exc
        landmarks = d.get("landmarks")
        if landmarks in ("", "off", "none", False):
            landmarks = None
        flags = {}
        for key in ("expressions", "age_gender", "descriptors", "single"):
            value = d.get(key, False)
            if not isinstance(value, bool):
                raise OptionsError(f"option {key!r} must be true or false, got {value!r}")
            flags[key] = value
        return cls(detector=det, landmarks=landmarks, **flags)

    def to_dict(self) -> dict:
        det = self.detector
        d: dict = {"landmarks": self.landmarks, "expressions": self.expressions, "age_gender": self.age_gender,
                   "descriptors": self.descriptors, "single": self.single}
        if isinstance(det, SsdMobilenetv1Options):
            d.update(detector="ssd", min_score=det.min_confidence, max_results=det.max_results)
        else:
            d.update(detector="tiny", input_size=det.input_size, min_score=det.score_threshold)
        return d


__all__ = ["AnalyzeOptions", "DetectorOptions", "SsdMobilenetv1Options", "TinyFaceDetectorOptions", "asdict"]
