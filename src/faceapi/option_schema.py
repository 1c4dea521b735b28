"""The analysis options, each written once: name, type, default, limits, help and the detector it applies to.

Everything that takes these options is derived from `ANALYZE_OPTIONS`:

- the library: `faceapi.options.AnalyzeOptions.from_dict` (and the detector option classes) check values
  with `OptionSpec.check`;
- the REST query model and the WebSocket settings (`faceapi.server.params`): pydantic fields with these
  limits and help (so ``/openapi.json`` declares them), refusals worded by `OptionSpec.rule`;
- the CLI's flags (`faceapi.cli.common`): ``--min-score`` from ``min_score``, the help and default from here,
  errors naming the flag;
- the page's controls (``static/controls.js``): the server sends `schema_json` in the stream's hello.

A refusal reads the same everywhere, ``option 'NAME' RULE, got VALUE``, with NAME the way the user wrote it
(``min_score`` in a query or a settings message, ``--min-score`` on the command line).

Options of one detector (`OptionSpec.detectors`): a value given for another detector is refused, unless it
is the default (a client that keeps a full settings object, such as a saved one, with the default there is
not refused; the page sends only the options that apply).

The limits bound the work one request may ask for (a tiny-detector input of 4096 took 1.6 GB and 3.7 s for
no face), for the library too: face-api.js takes any multiple of 32, its own examples use 128 to 608.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from faceapi.errors import OptionsError

Kind = Literal["bool", "int", "float", "choice", "name"]
#: How an option is named to the user: the field name as it is (REST, WebSocket, library) or a CLI flag.
Label = Callable[[str], str]


def field_label(name: str) -> str:
    """``min_score``: how a query, a settings message and the library name an option."""
    return name


def flag_label(name: str) -> str:
    """``--min-score``: how the CLI names an option."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class OptionSpec:
    """One option. Numbers: `minimum`/`maximum` (exclusive when `open_min`/`open_max`) and `multiple_of`;
    a choice: `choices` (`nullable`: None too, meaning "off"); a name: `pattern` and `max_length`."""

    name: str
    kind: Kind
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    open_min: bool = False
    open_max: bool = False
    multiple_of: int | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False
    pattern: str | None = None
    max_length: int | None = None
    #: the detectors it applies to (empty: all of them, and crops)
    detectors: tuple[str, ...] = ()
    metavar: str | None = None
    #: the stream's settings take it (not crop: camera frames are not face crops)
    stream: bool = True

    @property
    def flag(self) -> str:
        return flag_label(self.name)

    @property
    def rule(self) -> str:
        """What a value must be, said whole (a user needs both the step and the range of input_size)."""
        if self.kind == "bool":
            return "must be true or false"
        if self.kind == "choice":
            alts = ", ".join(repr(c) for c in self.choices)
            return f"must be one of {alts}" + (" or none (null, 'off')" if self.nullable else "")
        if self.kind == "name":
            return f"must be a name of at most {self.max_length} letters, digits or _.+-"
        lo, hi = self.minimum, self.maximum
        if self.multiple_of is not None:
            return f"must be a multiple of {self.multiple_of} from {_num(lo)} to {_num(hi)}"
        if self.kind == "int":
            return f"must be an integer from {_num(lo)} to {_num(hi)}"
        return (f"must be a number in {'(' if self.open_min else '['}{_num(lo)}, {_num(hi)}"
                f"{')' if self.open_max else ']'}")

    def refusal(self, value: object, label: Label = field_label) -> OptionsError:
        return OptionsError(f"option {label(self.name)!r} {self.rule}, got {value!r}")

    def check(self, value: Any, label: Label = field_label) -> Any:
        """`value` if it is one this option takes (an int for a float is taken as a float), else the
        OptionsError naming the option by `label`."""
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise self.refusal(value, label)
        if self.kind == "choice":
            if (value is None and self.nullable) or (isinstance(value, str) and value in self.choices):
                return value
            raise self.refusal(value, label)
        if self.kind == "name":
            import re

            if isinstance(value, str) and 0 < len(value) <= (self.max_length or 64) and re.fullmatch(
                    self.pattern or r"[A-Za-z0-9_.+-]+", value):
                return value
            raise self.refusal(value, label)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refusal(value, label)
        if self.kind == "int" and not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.refusal(value, label)
        if not math.isfinite(value) or not self._in_range(value):
            raise self.refusal(value, label)
        if self.multiple_of is not None and value % self.multiple_of:
            raise self.refusal(value, label)
        return float(value) if self.kind == "float" else value

    def _in_range(self, v: float) -> bool:
        lo, hi = self.minimum, self.maximum
        above = lo is None or (lo < v if self.open_min else lo <= v)
        below = hi is None or (v < hi if self.open_max else v <= hi)
        return above and below

    def applies_to(self, detector: str) -> bool:
        return not self.detectors or detector in self.detectors

    def out_of_range(self) -> list[Any]:
        """Values this option refuses (for the tests that walk the schema), of its own JSON type."""
        if self.kind == "bool":
            return ["maybe"]
        if self.kind == "choice":
            return ["nope"]
        if self.kind == "name":
            return ["no spaces"]
        bad: list[Any] = []
        if self.maximum is not None:
            bad.append(int(self.maximum + (self.multiple_of or 1)) if self.kind == "int" else self.maximum + 1)
        if self.minimum is not None:
            under = self.minimum if self.open_min else self.minimum - (self.multiple_of or 1)
            bad.append(int(under) if self.kind == "int" else under)
        if self.multiple_of is not None and self.minimum is not None:
            bad.append(int(self.minimum) + 1)
        return bad

    def to_json(self) -> dict[str, Any]:
        """What the page needs to build and check its control."""
        d: dict[str, Any] = {"name": self.name, "type": self.kind, "default": self.default, "help": self.help,
                             "rule": self.rule}
        for key in ("minimum", "maximum", "multiple_of", "pattern", "max_length"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.kind in ("int", "float"):
            d.update(open_min=self.open_min, open_max=self.open_max)
        if self.choices:
            d.update(choices=list(self.choices), nullable=self.nullable)
        if self.detectors:
            d["detectors"] = list(self.detectors)
        d["stream"] = self.stream
        return d


def _num(v: float | None) -> str:
    return "any" if v is None else f"{v:g}"


DETECTORS = ("ssd", "tiny")

#: The analysis options, in the order of the CLI's help and the page.
ANALYZE_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("detector", "choice", "ssd", "face detector: `ssd` (SSD MobileNetV1, more accurate) or `tiny` "
               "(Tiny Face Detector, faster)", choices=DETECTORS),
    OptionSpec("input_size", "int", 416, "Tiny Face Detector input side in pixels, a multiple of 32",
               minimum=128, maximum=1024, multiple_of=32, detectors=("tiny",), metavar="N"),
    OptionSpec("min_score", "float", 0.5, "minimum detection score", minimum=0, maximum=1, open_min=True,
               open_max=True, metavar="X"),
    OptionSpec("max_results", "int", 100, "SSD MobileNetV1: at most this many faces", minimum=1, maximum=1000,
               detectors=("ssd",), metavar="N"),
    OptionSpec("landmarks", "choice", None, "68 face landmarks: `full` net, `tiny` net, or none",
               choices=("full", "tiny"), nullable=True),
    OptionSpec("expressions", "bool", False, "expression probabilities (7 classes)"),
    OptionSpec("age_gender", "bool", False, "age and gender"),
    OptionSpec("descriptors", "bool", False, "128-d face descriptors (need landmarks: full ones when none)"),
    OptionSpec("single", "bool", False, "only the best-scoring face (face-api.js detectSingleFace)"),
    OptionSpec("recognize", "bool", False, "name every face from the gallery (`match`: label and distance)"),
    OptionSpec("distance_threshold", "float", 0.6, "recognition: a person matches when their distance is under "
               "this (face-api.js: 0.6)", minimum=0, maximum=10, open_min=True, metavar="D"),
    OptionSpec("match_strategy", "choice", "mean", "recognition: distance to a person = `mean` of the distances "
               "to their descriptors (face-api.js) or the `nearest` one", choices=("mean", "nearest")),
    OptionSpec("crop", "bool", False, "the image is a face crop already: no detector, every net sees the whole "
               "image", stream=False),
    OptionSpec("liveness", "bool", False, "liveness (MiniFASNet): each face gets `liveness` {score, live, "
               "threshold}"),
    OptionSpec("require_live", "bool", False, "recognition names only live faces (a face judged a photo is "
               "`not live`); turns liveness on"),
    OptionSpec("expression_model", "name", "faceapi", "expression model (`faceapi`: face-api.js's net, the "
               "default; the stream's hello lists them)", pattern=r"^[A-Za-z0-9_.+-]+$", max_length=64,
               metavar="NAME"),
    OptionSpec("calibrated", "bool", False, "add calibrated expression probabilities (`calibrated`, same "
               "dominant label) beside the raw ones"),
)

SPECS: dict[str, OptionSpec] = {s.name: s for s in ANALYZE_OPTIONS}
DEFAULTS: dict[str, Any] = {s.name: s.default for s in ANALYZE_OPTIONS}

#: onnxruntime threads (the CLI's ``--threads``; not an analysis option): None lets onnxruntime choose.
THREADS = OptionSpec("threads", "int", None, "onnxruntime threads (default: all cores)", minimum=1, maximum=1024,
                     metavar="N")


def spec(name: str) -> OptionSpec:
    return SPECS[name]


def check_applies(given: dict[str, Any], detector: str, label: Label = field_label) -> None:
    """Refuse an option given for a detector it does not apply to (a value other than its default: see the
    module's docstring)."""
    for name, value in given.items():
        s = SPECS.get(name)
        if s is not None and not s.applies_to(detector) and value is not None and value != s.default:
            only = " or ".join(repr(d) for d in s.detectors)
            raise OptionsError(f"option {label(s.name)!r} applies only with {label('detector')} {only}, not "
                               f"{detector!r} (leave it out)")


def schema_json() -> list[dict[str, Any]]:
    """The schema for the page (the stream's hello ``options``)."""
    return [s.to_json() for s in ANALYZE_OPTIONS]


__all__ = ["ANALYZE_OPTIONS", "DEFAULTS", "DETECTORS", "SPECS", "THREADS", "OptionSpec", "check_applies",
           "field_label", "flag_label", "schema_json", "spec"]
