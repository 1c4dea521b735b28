"""The expression models beside face-api.js's net (`--expression-model balanced`) and the calibration of
every model, on real crops of ../shared/eval (CK+48) and the real net."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceapi import expression_models
from faceapi.cli.main import main
from faceapi.errors import OptionsError
from faceapi.image import load_image
from faceapi.nets.face_expression import softmax
from faceapi.pipeline import FaceAnalyzer

from helpers import SHARED, missing

CK = SHARED / "eval" / "expressions" / "ckplus48"


@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir)


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    if not CK.is_dir():
        missing(f"{CK} is not there")
    return [load_image(f) for d in sorted(CK.iterdir()) for f in sorted(d.iterdir())[:3]]


def test_balanced_is_the_flip_averaged_net_plus_the_fitted_bias(analyzer, crops) -> None:
    """The stated computation: face-api.js's net on the batch and on its mirror image (x reversed),
    logits averaged, plus the bias of faceapi/data/expression_balanced.json."""
    net = analyzer.expression_net()
    batch = net.preprocess(crops)
    z = net.forward(batch)[0]
    z_mirror = net.forward(np.ascontiguousarray(batch[:, :, ::-1]))[0]
    doc = json.loads((expression_models.resources.files("faceapi") / "data" / "expression_balanced.json").read_text())
    expected = softmax((z + z_mirror) / 2 + np.asarray(doc["bias"], np.float32))
    out = expression_models.predict(analyzer, crops, "balanced")
    np.testing.assert_allclose([e.probabilities for e in out], expected, atol=1e-6)
    assert all(e.model == "balanced" and e.calibrated is None for e in out)
    # it is not the default model's answer in disguise (saturated faces, p = 1.0, may stay as they were)
    raw = net.predict(crops)
    assert sum(np.abs(np.subtract(a.probabilities, b.probabilities)).max() > 1e-3 for a, b in zip(out, raw)) >= 3


@pytest.mark.parametrize("model", expression_models.names())
def test_every_model_is_calibrated_keeping_its_label_and_raw_numbers(model, analyzer, crops) -> None:
    t = expression_models.temperature(model)
    assert 1.0 < t < 10.0
    raw = expression_models.predict(analyzer, crops, model)
    cal = expression_models.predict(analyzer, crops, model, calibrated=True)
    assert [e.probabilities for e in raw] == [e.probabilities for e in cal]
    for e in cal:
        assert e.calibrated is not None and int(np.argmax(e.calibrated)) == int(np.argmax(e.probabilities))
        assert max(e.calibrated) < max(e.probabilities) or max(e.probabilities) == pytest.approx(1 / 7)
        # the tracker's path (smoothed probabilities, calibrated afterwards) agrees on unsmoothed ones
        np.testing.assert_allclose(expression_models.calibrate_probabilities(np.array(e.probabilities), model),
                                   e.calibrated, atol=1e-5)
    doc = expression_models.calibration()["models"][model]
    assert "fer2013-train" in doc["fitted_on"] and doc["check"]["fer2013-publictest"]["ece_held_out"] <= 0.10


def test_chain_with_the_balanced_model(analyzer, shared_dir) -> None:
    from faceapi import AnalyzeOptions

    image = load_image(shared_dir / "images" / "bbt4.jpg")
    base = analyzer.analyze(image, AnalyzeOptions(landmarks="full", expressions=True)).faces
    faces = analyzer.analyze(image, AnalyzeOptions(landmarks="full", expressions=True, expression_model="balanced",
                                                   calibrated=True)).faces
    assert len(faces) == len(base) == 6
    for f, b in zip(faces, base):
        assert f.expressions is not None and f.expressions.model == "balanced" and f.expressions.calibrated
        assert f.to_dict()["expressions"]["model"] == "balanced"
        assert f.detection == b.detection  # the model changes the expressions only


def test_eval_cli_balanced_and_unknown_model(tmp_path, capsys) -> None:
    if not CK.is_dir():
        missing(f"{CK} is not there")
    root = tmp_path / "set"
    for d in sorted(CK.iterdir()):
        (root / d.name).mkdir(parents=True)
        for f in sorted(d.iterdir())[:2]:
            (root / d.name / f.name).symlink_to(f)
    out = tmp_path / "r.json"
    assert main(["eval", "expressions", str(root), "--crop", "--expression-model", "balanced", "--calibrated",
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["model"] == "balanced" and r["calibrated"] and r["n"] == 12
    assert main(["eval", "expressions", str(root), "--crop", "--expression-model", "nope"]) == 1
    assert "nope" in capsys.readouterr().err
    with pytest.raises(OptionsError, match="balanced"):
        expression_models.get("nope")
