"""Net-by-net parity of the face nets with face-api.js 0.22.2 (tfjs cpu backend).

Every reference image's exact crops (``face<i>_detection/_aligned/_dlib.png``) and its whole decoded
image are run through each net and compared with ``netOutputs`` / ``wholeImageNetOutputs`` of
``result.json``. A failing parity test writes actual vs expected to ``test-artifacts/<test>.json``.

Two quirks of the reference, by face-api.js design: the landmark nets' ``rawForward136`` is what
``net.forward()`` returns, which already includes ``postProcess`` (it equals ``relativePositions``), and
the expression net's ``rawForwardLogits`` likewise are softmax probabilities (``forward()`` applies
softmax). Our ``forward`` returns the true raw outputs, so those are compared after the same step.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceapi.engine.runtime import RuntimeConfig
from faceapi.models import load_weights
from faceapi.nets import face_landmark_68 as lm_mod
from faceapi.nets.age_gender import AgeGenderNet
from faceapi.nets.age_gender import postprocess as ag_postprocess
from faceapi.nets.face_expression import FaceExpressionNet, softmax
from faceapi.nets.face_landmark_68 import FaceLandmark68Net, FaceLandmark68TinyNet, relative_positions
from faceapi.nets.face_recognition import FaceRecognitionNet
from faceapi.results import EXPRESSION_LABELS

from helpers import ARTIFACTS, reference_dirs

RUNTIME = RuntimeConfig(threads=1)

LANDMARK_PX = 0.05
RELATIVE = 1e-4
PROB = 1e-3
AGE_YEARS = 0.05
DESCRIPTOR_L2 = 1e-3

LANDMARK_NETS = {"faceLandmark68": FaceLandmark68Net, "faceLandmark68Tiny": FaceLandmark68TinyNet}
ALL_NETS = (FaceLandmark68Net, FaceLandmark68TinyNet, FaceExpressionNet, AgeGenderNet, FaceRecognitionNet)


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def nets(models_dir):
    """Each net built once per session (lazily), single-threaded to keep the test run modest."""
    cache: dict[type, object] = {}

    def get(cls):
        if cls not in cache:
            cache[cls] = cls(models_dir, RUNTIME)
        return cache[cls]

    return get


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class Case:
    """One net input from the reference: an image (crop or whole image) and face-api.js's outputs on it."""

    def __init__(self, where: str, path: Path, outputs: dict):
        self.where, self.path, self.outputs = where, path, outputs
        self._image: np.ndarray | None = None

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            self._image = _rgb(self.path)
        return self._image


@pytest.fixture(scope="session")
def reference(shared_dir):
    """``{"detection"|"aligned"|"dlib"|"whole": [Case]}`` over every reference image."""
    dirs = reference_dirs(shared_dir)
    if not dirs:
        pytest.fail(f"no reference folders with result.json under {shared_dir / 'reference'}")
    cases: dict[str, list[Case]] = {"detection": [], "aligned": [], "dlib": [], "whole": []}
    for folder in dirs:
        result = json.loads((folder / "result.json").read_text())
        for face in result["faces"]:
            for kind, crop in face["crops"].items():
                cases[kind].append(Case(f"{folder.name}/{crop['file']}", folder / crop["file"], crop["netOutputs"]))
        cases["whole"].append(Case(f"{folder.name}/decoded.png", folder / "decoded.png",
                                   result["wholeImageNetOutputs"]))
    return cases


# -- comparison bookkeeping -----------------------------------------------------------------------------
class Parity:
    """Collects per-quantity errors; `check()` fails (and writes the artifact) if any is over tolerance."""

    def __init__(self, request):
        self.name = re.sub(r"[^\w.-]+", "_", request.node.name)
        self.rows: list[dict] = []
        self.max_err: dict[str, float] = {}

    def add(self, where: str, quantity: str, actual, expected, err: float, tol: float) -> None:
        self.max_err[quantity] = max(self.max_err.get(quantity, 0.0), float(err))
        self.rows.append({"where": where, "quantity": quantity, "error": float(err), "tolerance": tol,
                          "ok": bool(err <= tol), "actual": np.asarray(actual).tolist(),
                          "expected": np.asarray(expected).tolist()})

    def check(self) -> None:
        bad = [r for r in self.rows if not r["ok"]]
        assert self.rows, "nothing was compared"
        if bad:
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / f"{self.name}.json").write_text(json.dumps(
                {"max_error": self.max_err, "failures": bad}, indent=1))
            worst = max(bad, key=lambda r: r["error"] / r["tolerance"])
            pytest.fail(f"{len(bad)} of {len(self.rows)} comparisons over tolerance; worst {worst['where']} "
                        f"{worst['quantity']} error {worst['error']:.3g} > {worst['tolerance']} "
                        f"(details in test-artifacts/{self.name}.json)")


@pytest.fixture
def parity(request):
    return Parity(request)


def _size(image: np.ndarray) -> tuple[int, int]:
    return int(image.shape[1]), int(image.shape[0])


# -- parity tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["detection", "whole"])
@pytest.mark.parametrize("key", list(LANDMARK_NETS))
def test_landmarks_parity(nets, reference, parity, key, source):
    net = nets(LANDMARK_NETS[key])
    for case in reference[source]:
        expected = case.outputs[key]
        (raw,) = net.forward(net.preprocess([case.image]))
        positions = net.predict([case.image])[0]
        assert positions.shape == (68, 2) and positions.dtype == np.float64
        exp_pos = np.array(expected["positions"])
        parity.add(case.where, "positions_px", positions, exp_pos, np.abs(positions - exp_pos).max(), LANDMARK_PX)
        rel = relative_positions(raw, [_size(case.image)])[0].ravel()
        exp_rel = np.array(expected["rawForward136"])
        parity.add(case.where, "forward136_relative", rel, exp_rel, np.abs(rel - exp_rel).max(), RELATIVE)
    parity.check()


@pytest.mark.parametrize("source", ["aligned", "whole"])
def test_expressions_parity(nets, reference, parity, source):
    net = nets(FaceExpressionNet)
    for case in reference[source]:
        expected = case.outputs["faceExpression"]
        assert tuple(expected["labels"]) == EXPRESSION_LABELS
        (logits,) = net.forward(net.preprocess([case.image]))
        assert logits.shape == (1, 7)
        probs = np.array(net.predict([case.image])[0].probabilities)
        exp_probs = np.array([expected["probabilities"][label] for label in EXPRESSION_LABELS])
        parity.add(case.where, "probabilities", probs, exp_probs, np.abs(probs - exp_probs).max(), PROB)
        from_logits = softmax(logits)[0]
        exp_fwd = np.array(expected["rawForwardLogits"])  # face-api.js forward() output: already softmaxed
        parity.add(case.where, "softmax(logits)", from_logits, exp_fwd, np.abs(from_logits - exp_fwd).max(), PROB)
    parity.check()


@pytest.mark.parametrize("source", ["aligned", "whole"])
def test_age_gender_parity(nets, reference, parity, source):
    net = nets(AgeGenderNet)
    for case in reference[source]:
        expected = case.outputs["ageGender"]
        age, gender = net.forward(net.preprocess([case.image]))
        assert age.shape == (1,) and gender.shape == (1, 2)
        result = net.predict([case.image])[0]
        parity.add(case.where, "age", result.age, expected["age"], abs(result.age - expected["age"]), AGE_YEARS)
        parity.add(case.where, "gender_probability", result.gender_probability, expected["genderProbability"],
                   abs(result.gender_probability - expected["genderProbability"]), PROB)
        exp_sm = np.array(expected["rawForwardGenderSoftmax"])
        parity.add(case.where, "gender_softmax", gender[0], exp_sm, np.abs(gender[0] - exp_sm).max(), PROB)
        parity.add(case.where, "gender_label", result.gender, expected["gender"],
                   0.0 if result.gender == expected["gender"] else np.inf, 0.0)
    parity.check()


@pytest.mark.parametrize("source", ["dlib", "whole"])
def test_descriptor_parity(nets, reference, parity, source):
    net = nets(FaceRecognitionNet)
    for case in reference[source]:
        descriptor = net.predict([case.image])[0]
        assert descriptor.shape == (128,) and descriptor.dtype == np.float32
        expected = np.array(case.outputs["faceRecognition"]["descriptor"])
        parity.add(case.where, "descriptor_l2", descriptor, expected, np.linalg.norm(descriptor - expected),
                   DESCRIPTOR_L2)
    parity.check()


# -- batching -------------------------------------------------------------------------------------------
def _bbt4(reference, kind: str) -> list[np.ndarray]:
    crops = [c.image for c in reference[kind] if c.where.startswith("bbt4/")]
    if len(crops) != 6:
        pytest.fail(f"expected the 6 bbt4 {kind} crops, found {len(crops)}")
    return crops


def test_batch_equals_one_by_one(nets, reference):
    """The 6 bbt4 crops (all different sizes) as one batch give the same results as one at a time."""
    detection, aligned, dlib = (_bbt4(reference, k) for k in ("detection", "aligned", "dlib"))
    for cls in LANDMARK_NETS.values():
        net = nets(cls)
        batch = net.predict(detection)
        for crop, got in zip(detection, batch):
            np.testing.assert_allclose(got, net.predict([crop])[0], atol=1e-4)
    expr = nets(FaceExpressionNet)
    for crop, got in zip(aligned, expr.predict(aligned)):
        np.testing.assert_allclose(got.probabilities, expr.predict([crop])[0].probabilities, atol=1e-6)
    ag = nets(AgeGenderNet)
    for crop, got in zip(aligned, ag.predict(aligned)):
        one = ag.predict([crop])[0]
        assert got.gender == one.gender
        assert got.age == pytest.approx(one.age, abs=1e-4)
        assert got.gender_probability == pytest.approx(one.gender_probability, abs=1e-6)
    rec = nets(FaceRecognitionNet)
    for crop, got in zip(dlib, rec.predict(dlib)):
        assert np.linalg.norm(got - rec.predict([crop])[0]) < 1e-5


def test_empty_batch(nets):
    assert nets(FaceLandmark68TinyNet).predict([]) == []
    assert nets(FaceExpressionNet).predict([]) == []
    assert nets(AgeGenderNet).predict([]) == []
    assert nets(FaceRecognitionNet).predict([]) == []


# -- graphs and pure functions --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL_NETS, ids=lambda c: c.__name__)
def test_graph_uses_every_weight(models_dir, cls):
    weights = load_weights(cls.spec.model, models_dir).weights
    model = cls.spec.build_graph(weights)
    assert weights.unused() == []
    assert [i.name for i in model.graph.input] == ["input"]


def test_landmark_postprocess_padding():
    """A point at the centre of the padded square maps to the crop centre; padding is removed on x only."""
    raw = np.full((1, 136), 0.5, np.float32)
    (pos,) = lm_mod.postprocess(raw, [(50, 100)])  # portrait crop: padded left/right
    np.testing.assert_allclose(pos, np.tile([25.0, 50.0], (68, 1)), atol=1e-4)
    raw[0, 0] = 0.25  # x at a quarter of the square = the left image edge (pad 28 of 112)
    (pos,) = lm_mod.postprocess(raw, [(50, 100)])
    assert pos[0, 0] == pytest.approx(0.0, abs=1e-4)
    rel = relative_positions(raw, [(50, 100)])[0]
    assert rel.dtype == np.float32 and rel.shape == (68, 2)


def test_age_gender_postprocess():
    results = ag_postprocess(np.array([30.5, 20.0], np.float32), np.array([[0.7, 0.3], [0.2, 0.8]], np.float32))
    assert results[0].gender == "male" and results[0].gender_probability == pytest.approx(0.7)
    assert results[1].gender == "female" and results[1].gender_probability == pytest.approx(0.8)
    assert results[0].age == pytest.approx(30.5)
