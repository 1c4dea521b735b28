"""The expression models over the real server (uvicorn on loopback): `expression_model` and `calibrated`
on /api/analyze give the engine's own answers, raw probabilities beside the calibrated ones; an unknown
model is a 400 naming the known ones."""

from __future__ import annotations

import pytest

from faceapi import expression_models
from faceapi.options import AnalyzeOptions
from faceapi.pipeline import FaceAnalyzer

JPEG = {"content-type": "image/jpeg"}


@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir)


@pytest.fixture(scope="module")
def server(analyzer, create_app, live_server):
    with live_server(create_app(analyzer, allowed_origins=("https://allowed.example",))) as srv:
        yield srv


@pytest.mark.parametrize("model", expression_models.names())
def test_analyze_with_each_model_calibrated(http, analyzer, shared_dir, model) -> None:
    data = (shared_dir / "images" / "bbt4.jpg").read_bytes()
    r = http.post("/api/analyze", params={"detector": "ssd", "expressions": "true", "expression_model": model,
                                          "calibrated": "true"}, content=data, headers=JPEG)
    assert r.status_code == 200, r.text
    got = r.json()["faces"]
    want = analyzer.analyze(data, AnalyzeOptions.from_dict({"detector": "ssd", "expressions": True,
                                                            "expression_model": model, "calibrated": True})).faces
    assert len(got) == len(want) == 6
    for g, w in zip(got, want):
        e = g["expressions"]
        assert w.expressions is not None and w.expressions.calibrated is not None
        assert list(e["probabilities"].values()) == pytest.approx(w.expressions.probabilities, abs=1e-6)
        assert list(e["calibrated"].values()) == pytest.approx(w.expressions.calibrated, abs=1e-6)
        assert max(e["calibrated"], key=e["calibrated"].get) == e["dominant"]
        assert e.get("model") == (None if model == expression_models.DEFAULT_MODEL else model)


def test_unknown_model_is_refused(http, shared_dir) -> None:
    data = (shared_dir / "images" / "bbt4.jpg").read_bytes()
    r = http.post("/api/analyze", params={"expressions": "true", "expression_model": "evil"}, content=data,
                  headers=JPEG)
    assert r.status_code == 400 and "evil" in r.json()["error"] and "balanced" in r.json()["error"]
