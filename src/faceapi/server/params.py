"""The options routes declare (FastAPI validates them and lists them in /openapi.json and /docs), and the
one conversion of request options into `AnalyzeOptions`, for REST queries and stream settings alike.

The analysis options' limits, defaults and help come from the option schema (`faceapi.option_schema`), as
the library's and the CLI's do: `schema_field` makes each one's pydantic field, and a refused value is
worded by the schema's rule (`faceapi.server.errors.validation_message`). The Python types restated here
are checked against the schema by tests/test_option_schema.py. They bound the work one request may ask
for (a tiny-detector input of 4096 took 1.6 GB).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from faceapi.errors import OptionsError
from faceapi.option_schema import SPECS
from faceapi.options import DEFAULT_DISTANCE_THRESHOLD, AnalyzeOptions, DetectorKind, MatchOptions, MatchStrategy
from faceapi.server.errors import validation_message


def schema_field(name: str, description: str | None = None) -> FieldInfo:
    """The pydantic field of a schema option: its limits (declared in /openapi.json) and help."""
    s = SPECS[name]
    limits: dict[str, Any] = {}
    if s.minimum is not None:
        limits["gt" if s.open_min else "ge"] = s.minimum
    if s.maximum is not None:
        limits["lt" if s.open_max else "le"] = s.maximum
    if s.multiple_of is not None:
        limits["multiple_of"] = s.multiple_of
    if s.kind == "name":
        limits.update(min_length=1, max_length=s.max_length, pattern=s.pattern)
    field: FieldInfo = Field(description=description or s.help, **limits)
    return field


def _landmarks_off(value: object) -> object:
    """The ways a query says "no landmarks" (as the page and the CLI's JSON write it)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "false", "null")):
        return "off"
    return value


Detector = Annotated[DetectorKind, schema_field("detector")]
InputSize = Annotated[int, schema_field("input_size")]
MinScore = Annotated[float, schema_field("min_score")]
MaxResults = Annotated[int, schema_field("max_results")]
Landmarks = Annotated[Literal["off", "full", "tiny"], BeforeValidator(_landmarks_off), schema_field(
    "landmarks", "68 face landmarks: `full` net, `tiny` net, or `off` (also `none`, empty)")]
DistanceThreshold = Annotated[float, schema_field("distance_threshold")]
Strategy = Annotated[MatchStrategy, schema_field("match_strategy")]
OldStrategy = Annotated[MatchStrategy | None, Field(
    description="the same as `match_strategy` (its older name; give one of the two)")]
Crop = Annotated[bool, schema_field("crop")]
Liveness = Annotated[bool, schema_field("liveness")]
RequireLive = Annotated[bool, schema_field("require_live")]
ExpressionModel = Annotated[str, schema_field("expression_model")]
Calibrated = Annotated[bool, schema_field("calibrated")]
Expressions = Annotated[bool, schema_field("expressions")]
AgeGender = Annotated[bool, schema_field("age_gender")]
Descriptors = Annotated[bool, schema_field("descriptors")]
Single = Annotated[bool, schema_field("single")]
Recognize = Annotated[bool, schema_field("recognize")]

#: The schema's defaults, in the query's and the settings' own spelling (landmarks: "off" for none).
_D = {**{n: s.default for n, s in SPECS.items()}, "landmarks": "off"}


class AnalysisFields(BaseModel):
    """The option schema's fields but crop, shared by the REST query (`AnalyzeParams`) and the stream's
    settings (`StreamSettings`), with ``strategy``, the older name of ``match_strategy``."""

    detector: Detector = _D["detector"]
    input_size: InputSize = _D["input_size"]
    min_score: MinScore = _D["min_score"]
    max_results: MaxResults = _D["max_results"]
    landmarks: Landmarks = _D["landmarks"]
    expressions: Expressions = _D["expressions"]
    age_gender: AgeGender = _D["age_gender"]
    descriptors: Descriptors = _D["descriptors"]
    single: Single = _D["single"]
    recognize: Recognize = _D["recognize"]
    distance_threshold: DistanceThreshold = _D["distance_threshold"]
    match_strategy: Strategy = _D["match_strategy"]
    strategy: OldStrategy = None
    liveness: Liveness = _D["liveness"]
    require_live: RequireLive = _D["require_live"]
    expression_model: ExpressionModel = _D["expression_model"]
    calibrated: Calibrated = _D["calibrated"]


class AnalyzeParams(AnalysisFields):
    """Query options of ``POST /api/analyze`` (defaults as `faceapi analyze`)."""

    model_config = ConfigDict(extra="forbid")

    recognize: Annotated[bool, schema_field(
        "recognize", "name every face from the server's gallery (`match`: label and distance); "
                     "400 on a server without a gallery")] = _D["recognize"]
    crop: Crop = _D["crop"]
    annotate: Annotated[bool, Field(description="answer with the annotated image instead of JSON")] = False
    format: Annotated[Literal["jpeg", "jpg", "png"], Field(
        description="the annotated image's format (with annotate=true)")] = "jpeg"

    def options(self, recognition_available: bool) -> AnalyzeOptions:
        """The options the query gave (the others are the schema's defaults): an option of another detector
        is refused only when given (`faceapi.option_schema.check_applies`)."""
        raw = self.model_dump(include=self.model_fields_set - {"annotate", "format"})
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


class StreamSettings(AnalysisFields):
    """A stream's ``settings`` message (and ``settings`` of ``POST /api/models/load``): the analysis options
    with the same limits as the REST query, as JSON values (strict: ``"yes"`` is not a boolean). The
    stream's own defaults are `faceapi.server.stream.DEFAULT_STREAM_SETTINGS`, given over these."""

    model_config = ConfigDict(extra="forbid", strict=True)


def settings_options(settings: dict[str, Any], recognition_available: bool,
                     defaults: dict[str, Any] | None = None) -> AnalyzeOptions:
    """A settings message (without "type") over `defaults`, validated by `StreamSettings`, as
    `AnalyzeOptions`; OptionsError naming what is wrong."""
    try:
        params = StreamSettings.model_validate({**(defaults or {}), **settings})
    except ValidationError as exc:
        raise OptionsError(validation_message(exc.errors())) from None
    return analyze_options(params.model_dump(include=params.model_fields_set),
                           recognition_available=recognition_available)


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
