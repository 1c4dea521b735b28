"""The options routes declare (FastAPI validates them and lists them in /openapi.json and /docs), and the
one conversion of request options into `AnalyzeOptions`, for REST queries and stream settings alike.

The limits here are the server's edge, for REST queries, stream settings and model-load settings alike
(`StreamSettings`): they bound the work one request may ask for (a tiny-detector input of 4096 took 1.6 GB).
`AnalyzeOptions.from_dict` and `MatchOptions` check the values again as the engine's own rules (the
library keeps face-api.js's wider ones, e.g. any multiple of 32).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from faceapi.errors import OptionsError
from faceapi.options import DEFAULT_DISTANCE_THRESHOLD, AnalyzeOptions, DetectorKind, MatchOptions, MatchStrategy
from faceapi.server.errors import validation_message


def _landmarks_off(value: object) -> object:
    """The ways a query says "no landmarks" (as the page and the CLI's JSON write it)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "false", "null")):
        return "off"
    return value


Detector = Annotated[DetectorKind, Field(
    description="face detector: `ssd` (SSD MobileNetV1, more accurate) or `tiny` (Tiny Face Detector, faster)")]
InputSize = Annotated[int, Field(ge=128, le=1024, multiple_of=32,
                                 description="Tiny Face Detector input side in pixels, a multiple of 32")]
MinScore = Annotated[float, Field(gt=0, lt=1, description="minimum detection score")]
MaxResults = Annotated[int, Field(ge=1, le=1000, description="SSD MobileNetV1: at most this many faces")]
Landmarks = Annotated[Literal["off", "full", "tiny"], BeforeValidator(_landmarks_off), Field(
    description="68 face landmarks: `full` net, `tiny` net, or `off` (also `none`, empty)")]
DistanceThreshold = Annotated[float, Field(
    gt=0, le=10, description="recognition: a person matches when their distance is under this (face-api.js: 0.6)")]
Strategy = Annotated[MatchStrategy, Field(
    description="recognition: distance to a person = `mean` of the distances to their descriptors "
                "(face-api.js) or the `nearest` one")]
OldStrategy = Annotated[MatchStrategy | None, Field(
    description="the same as `match_strategy` (its older name; give one of the two)")]
Crop = Annotated[bool, Field(description="the image is a face crop already: describe it whole, no detection")]
Liveness = Annotated[bool, Field(
    description="liveness (MiniFASNet): each face gets `liveness` {score, live, threshold}")]
RequireLive = Annotated[bool, Field(
    description="recognition names only live faces (a face judged a photo is `not live`); turns liveness on")]
ExpressionModel = Annotated[str, Field(
    min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.+-]+$",
    description="expression model (`faceapi`: face-api.js's net, the default; the stream's hello lists them)")]
Calibrated = Annotated[bool, Field(
    description="add calibrated expression probabilities (`calibrated`, same dominant label) beside the raw ones")]


class AnalyzeParams(BaseModel):
    """Query options of ``POST /api/analyze`` (defaults as `faceapi analyze`)."""

    model_config = ConfigDict(extra="forbid")

    detector: Detector = "ssd"
    input_size: InputSize = 416
    min_score: MinScore = 0.5
    max_results: MaxResults = 100
    landmarks: Landmarks = "off"
    expressions: Annotated[bool, Field(description="expression probabilities (7 classes)")] = False
    age_gender: Annotated[bool, Field(description="age and gender")] = False
    descriptors: Annotated[bool, Field(
        description="128-d face descriptors in the answer (need landmarks: full ones when off)")] = False
    single: Annotated[bool, Field(description="only the best-scoring face (face-api.js detectSingleFace)")] = False
    recognize: Annotated[bool, Field(
        description="name every face from the server's gallery (`match`: label and distance); "
                    "400 on a server without a gallery")] = False
    distance_threshold: DistanceThreshold = DEFAULT_DISTANCE_THRESHOLD
    match_strategy: Strategy = "mean"
    strategy: OldStrategy = None
    liveness: Liveness = False
    require_live: RequireLive = False
    expression_model: ExpressionModel = "faceapi"
    calibrated: Calibrated = False
    annotate: Annotated[bool, Field(description="answer with the annotated image instead of JSON")] = False
    format: Annotated[Literal["jpeg", "jpg", "png"], Field(
        description="the annotated image's format (with annotate=true)")] = "jpeg"

    def options(self, recognition_available: bool) -> AnalyzeOptions:
        raw = self.model_dump(exclude={"annotate", "format"})
        if "match_strategy" not in self.model_fields_set:
            raw["match_strategy"] = None  # its default must not contradict `strategy`
        return analyze_options(raw, recognition_available=recognition_available)


class EnrolParams(BaseModel):
    """Query options of ``POST /api/people`` (a multipart form's text fields may give them instead)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(description="the person's name")] = None
    crop: Crop = False
    append: Annotated[bool, Field(
        description="the name may exist already: add this face as one more sample of that person (without "
                    "it, enrolling under an existing name is refused with 409)")] = False
    force: Annotated[bool, Field(
        description="with append: add the sample even when it is farther than the match threshold from the "
                    "person's samples (normally refused: it may be somebody else)")] = False
    require_live: Annotated[bool, Field(
        description="enrol only a live face: a face judged a photo is refused with 422 and its `liveness` "
                    "score (not with crop=true)")] = False


class MatchParams(BaseModel):
    """Query options of ``POST /api/people/match`` (a multipart form's text fields may give them instead)."""

    model_config = ConfigDict(extra="forbid")

    crop: Crop = False
    distance_threshold: DistanceThreshold = DEFAULT_DISTANCE_THRESHOLD
    strategy: OldStrategy = None
    match_strategy: Strategy = "mean"
    require_live: Annotated[bool, Field(
        description="name the face only when it is live (`not live` otherwise; the answer has its "
                    "`liveness`); not with crop=true")] = False

    def match(self) -> MatchOptions:
        given = self.match_strategy if "match_strategy" in self.model_fields_set else None
        return match_options(self.distance_threshold, given, self.strategy)


class ImportParams(BaseModel):
    """Query options of ``POST /api/people/import``."""

    model_config = ConfigDict(extra="forbid")

    replace: Annotated[bool, Field(description="empty the gallery first (else merge)")] = False


class StreamSettings(BaseModel):
    """A stream's ``settings`` message (and ``settings`` of ``POST /api/models/load``): the analysis options
    with the same limits as the REST query, as JSON values (strict: ``"yes"`` is not a boolean)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    detector: Detector = "tiny"
    input_size: InputSize = 416
    min_score: MinScore = 0.5
    max_results: MaxResults = 100
    landmarks: Landmarks = "full"
    expressions: bool = True
    age_gender: bool = False
    descriptors: bool = False
    single: bool = False
    recognize: bool = False
    distance_threshold: DistanceThreshold = DEFAULT_DISTANCE_THRESHOLD
    match_strategy: MatchStrategy | None = None
    strategy: MatchStrategy | None = None
    liveness: bool = False
    require_live: bool = False
    expression_model: ExpressionModel = "faceapi"
    calibrated: bool = False


def settings_options(settings: dict[str, Any], recognition_available: bool,
                     defaults: dict[str, Any] | None = None) -> AnalyzeOptions:
    """A settings message (without "type") over `defaults`, validated by `StreamSettings`, as
    `AnalyzeOptions`; OptionsError naming what is wrong."""
    try:
        params = StreamSettings.model_validate({**(defaults or {}), **settings})
    except ValidationError as exc:
        raise OptionsError(validation_message(exc.errors())) from None
    return analyze_options(params.model_dump(), recognition_available=recognition_available)


def match_options(threshold: object, match_strategy: object = None, strategy: object = None) -> MatchOptions:
    """`MatchOptions` from a threshold and a strategy given as `match_strategy` or by its older name
    `strategy` (None: not given; refused when both are given and differ)."""
    if strategy is not None and match_strategy is not None and strategy != match_strategy:
        raise OptionsError(f"strategy {strategy!r} and match_strategy {match_strategy!r} differ; give one of them")
    chosen = strategy if strategy is not None else (match_strategy if match_strategy is not None else "mean")
    return MatchOptions(distance_threshold=threshold, strategy=chosen)  # type: ignore[arg-type]


def analyze_options(raw: dict[str, Any], *, recognition_available: bool) -> AnalyzeOptions:
    """The one conversion of request options (a REST query's validated parameters, a stream's settings
    message) into `AnalyzeOptions`, through `AnalyzeOptions.from_dict`.

    ``recognize`` (bool) with ``distance_threshold`` and ``match_strategy`` (or ``strategy``): the match
    options are validated always and apply with ``recognize=true`` (a client may keep them while it turns
    recognition off). Raises OptionsError, also for recognition on a server without a gallery.
    """
    raw = dict(raw)
    recognize = raw.pop("recognize", False)
    if not isinstance(recognize, bool):
        raise OptionsError(f"option 'recognize' must be true or false, got {recognize!r}")
    match = match_options(raw.pop("distance_threshold", DEFAULT_DISTANCE_THRESHOLD), raw.pop("match_strategy", None),
                          raw.pop("strategy", None))
    if recognize:
        if not recognition_available:
            raise OptionsError("recognition is not available: this server has no gallery of enrolled people "
                               "(started with --no-gallery)")
        raw.update(recognize=True, distance_threshold=match.distance_threshold, match_strategy=match.strategy)
    return AnalyzeOptions.from_dict(raw)
