"""The expression models (`AnalyzeOptions.expression_model`, ``--expression-model``) and the calibrated
probabilities (`AnalyzeOptions.calibrated`), in one place.

A model turns the face crops the chain gives the expression net (the landmark-aligned box) into the seven
expression probabilities. ``"faceapi"``, the default, is face-api.js's FaceExpressionNet, bit-identical.
``"balanced"`` is the same net on the crop and on its mirror image, logits averaged, plus one bias per
label fitted on FER2013's training split (``faceapi/data/expression_balanced.json``, by
``benchmarks/fit_expression_balanced.py``): higher balanced accuracy on every set measured (+1.5 to +5.7
points; "fearful" recalled 1.1 to 3.2 times as often), at one more pass of the net. docs/accuracy.md has every candidate
measured and why it was kept or dropped; `EXPRESSION_MODELS` holds each with its measured balanced accuracy.

Calibration is temperature scaling: ``calibrated = softmax(logits / T)`` with one T > 0 per model, so the
dominant label is never changed; T comes from ``faceapi/data/expression_calibration.json``, fitted by
``benchmarks/fit_calibration.py`` (its inputs, its rule and the data's terms are recorded in that file).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi.errors import ModelError, OptionsError
from faceapi.nets.face_expression import softmax
from faceapi.results import EXPRESSION_LABELS, Expressions

if TYPE_CHECKING:
    from faceapi.pipeline import FaceAnalyzer

#: The default model: face-api.js's net, its numbers exactly.
DEFAULT_MODEL = "faceapi"
CALIBRATION_FILE = "expression_calibration.json"
BALANCED_FILE = "expression_balanced.json"


@dataclass(frozen=True)
class ExpressionModel:
    """One expression model.

    Attributes:
        name: its option value. label: what the page shows. description: what it is, in a sentence.
        logits: (analyzer, preprocessed ``[N, 112, 112, 3]`` batch) -> ``[N, 7]`` logits.
        balanced_accuracy: the mean balanced accuracy over the sets in docs/accuracy.md (None: not measured).
    """

    name: str
    label: str
    description: str
    logits: Callable[[FaceAnalyzer, np.ndarray], np.ndarray]
    balanced_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stream's hello lists the models so: name, label, balanced_accuracy."""
        return {"name": self.name, "label": self.label, "balanced_accuracy": self.balanced_accuracy}


def _faceapi_logits(analyzer: FaceAnalyzer, batch: np.ndarray) -> np.ndarray:
    out: np.ndarray = analyzer.expression_net().forward(batch)[0]
    return out


def _data_file(name: str) -> dict[str, Any]:
    try:
        text = resources.files("faceapi").joinpath("data").joinpath(name).read_text(encoding="utf-8")
        doc: dict[str, Any] = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ModelError(f"faceapi/data/{name} is missing or not JSON ({exc}); reinstall faceapi") from exc
    return doc


@lru_cache(maxsize=1)
def balanced_bias() -> np.ndarray:
    """The ``balanced`` model's bias per label (package data), read once and checked."""
    bias = _data_file(BALANCED_FILE).get("bias")
    ok = isinstance(bias, list) and len(bias) == len(EXPRESSION_LABELS) and all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and np.isfinite(b) for b in bias)
    if not ok:
        raise ModelError(f"faceapi/data/{BALANCED_FILE} has no bias of {len(EXPRESSION_LABELS)} finite numbers")
    return np.asarray(bias, np.float32)


def _balanced_from_outputs(logits: np.ndarray) -> np.ndarray:
    """``[N, 2, 7]`` logits of the crops and of their mirror images -> the ``balanced`` model's logits."""
    out: np.ndarray = np.asarray(logits, np.float32).mean(axis=1) + balanced_bias()
    return out


def _balanced_logits(analyzer: FaceAnalyzer, batch: np.ndarray) -> np.ndarray:
    # the crops and their mirror images (NHWC: axis 2 is x) in one call of the net
    both = np.concatenate([batch, batch[:, :, ::-1]])
    z = analyzer.expression_net().forward(np.ascontiguousarray(both))[0]
    n = len(batch)
    return _balanced_from_outputs(np.stack([z[:n], z[n:]], axis=1))


EXPRESSION_MODELS: dict[str, ExpressionModel] = {
    m.name: m for m in (
        # balanced accuracy: the mean over FER2013 PublicTest, CK+48 and Taiwanese (docs/accuracy.md)
        ExpressionModel(DEFAULT_MODEL, "face-api.js", "face-api.js's FaceExpressionNet (bit-identical)",
                        _faceapi_logits, balanced_accuracy=0.646),
        ExpressionModel("balanced", "balanced (flip + label bias)",
                        "face-api.js's net on the face and its mirror image, averaged, with a per-label bias "
                        "fitted on FER2013 train toward balanced answers (twice the net's cost)",
                        _balanced_logits, balanced_accuracy=0.677),
    )
}

#: model name -> (``[N, 2, 7]`` logits of crops and mirrors -> its logits), for the fitting scripts in benchmarks/
FROM_OUTPUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    DEFAULT_MODEL: lambda logits: np.asarray(logits, np.float32)[:, 0],
    "balanced": _balanced_from_outputs,
}


def logits_from_outputs(model: str, logits: np.ndarray) -> np.ndarray:
    """`model`'s logits from face-api.js's net's logits on the crops and their mirrors (``[N, 2, 7]``, as
    ``benchmarks/expression_features.py`` saves them): what the fitting scripts score."""
    return FROM_OUTPUTS[get(model).name](logits)


def names() -> tuple[str, ...]:
    return tuple(EXPRESSION_MODELS)


def get(name: str) -> ExpressionModel:
    """The model called `name`; OptionsError (listing the known ones) for any other."""
    found = EXPRESSION_MODELS.get(name) if isinstance(name, str) else None
    if found is None:
        raise OptionsError(f"unknown expression model {name!r}; known: {', '.join(EXPRESSION_MODELS)}")
    return found


@lru_cache(maxsize=1)
def calibration() -> dict[str, Any]:
    """The fitted calibration file (package data), read once."""
    return _data_file(CALIBRATION_FILE)


def temperature(model: str) -> float:
    """The calibration temperature of `model` (ModelError when the file has none for it)."""
    entry = calibration().get("models", {}).get(model)
    t = entry.get("temperature") if isinstance(entry, dict) else None
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not t > 0:
        raise ModelError(f"faceapi/data/{CALIBRATION_FILE} has no positive temperature for model {model!r}")
    return float(t)


def calibrate(logits: np.ndarray, model: str = DEFAULT_MODEL) -> np.ndarray:
    """``softmax(logits / T)``: calibrated probabilities with the same largest label as ``softmax(logits)``."""
    return softmax(np.asarray(logits, np.float32) / np.float32(temperature(model)))


def calibrate_probabilities(probabilities: np.ndarray, model: str = DEFAULT_MODEL) -> np.ndarray:
    """`calibrate` from probabilities instead of logits (a tracker's smoothed ones): ``log p`` is the logits
    less a constant, so ``softmax(log(p) / T)`` equals ``softmax(logits / T)`` for probabilities that are a
    softmax, and stays a monotone map (same largest label) for a mean of them."""
    p = np.clip(np.asarray(probabilities, np.float64), 1e-30, None)
    return calibrate(np.log(p), model)


def predict(analyzer: FaceAnalyzer, crops: Sequence[np.ndarray], model: str = DEFAULT_MODEL,
            calibrated: bool = False) -> list[Expressions]:
    """The expressions of face crops by `model`, with calibrated probabilities when asked for.

    The default model without calibration is ``analyzer.expression_net().predict`` itself (face-api.js's
    numbers); with calibration its `probabilities` are still exactly those (the same logits, the same
    softmax) and `calibrated` is added.
    """
    if not crops:
        return []
    return predict_input(analyzer, analyzer.expression_net().preprocess(crops), model, calibrated)


def predict_input(analyzer: FaceAnalyzer, batch: np.ndarray, model: str = DEFAULT_MODEL,
                  calibrated: bool = False) -> list[Expressions]:
    """`predict` on crops preprocessed already (the pipeline's expression stage, sharing the aligned crops'
    112x112 input with age/gender)."""
    m = get(model)
    if not len(batch):
        return []
    if m.name == DEFAULT_MODEL and not calibrated:
        return analyzer.expression_net().predict_input(batch)
    logits = m.logits(analyzer, batch)
    probabilities = softmax(logits)
    cal = calibrate(logits, m.name) if calibrated else None
    tag = None if m.name == DEFAULT_MODEL else m.name
    return [Expressions(tuple(float(p) for p in probabilities[i]),
                        calibrated=None if cal is None else tuple(float(p) for p in cal[i]), model=tag)
            for i in range(len(batch))]


__all__ = ["DEFAULT_MODEL", "EXPRESSION_MODELS", "ExpressionModel", "balanced_bias", "calibrate",
           "calibrate_probabilities", "calibration", "get", "logits_from_outputs", "names", "predict", "predict_input",
           "temperature"]
