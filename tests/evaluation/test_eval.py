"""faceapi eval on small slices of ../shared/eval, and the statistics against stated computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from faceapi.cli.main import main
from faceapi.evaluation import stats

from helpers import SHARED, missing

EXPR = SHARED / "eval" / "expressions"


def test_wilson_matches_the_formula() -> None:
    # 8 of 10, z = 1.96: centre (0.8 + 0.19208) / 1.38415, half 1.96 sqrt(0.016 + 0.0009604) / 1.38415
    z = stats.Z95
    p, n = 0.8, 10
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    i = stats.wilson_interval(8, 10)
    assert i.value == 0.8 and i.low == pytest.approx(centre - half) and i.high == pytest.approx(centre + half)
    assert i.low == pytest.approx(0.4902, abs=1e-4) and i.high == pytest.approx(0.9433, abs=1e-4)


def test_ece_is_the_binned_gap() -> None:
    # two bins used: confidence 0.95 (4 items, 2 right) and 0.55 (2 items, both right)
    conf = [0.95] * 4 + [0.55] * 2
    ok = [True, True, False, False, True, True]
    assert stats.expected_calibration_error(conf, ok) == pytest.approx(4 / 6 * 0.45 + 2 / 6 * 0.45)


def test_threshold_for_fmr_and_gallery() -> None:
    impostor = np.array([0.3, 0.5, 0.7, 0.9])
    assert stats.threshold_for_fmr(impostor, 0.25) == 0.5  # one false match (0.3 < 0.5) of four allowed
    assert stats.gallery_false_match(0.01, 100) == pytest.approx(1 - 0.99 ** 100)


def _slice(tmp_path, n_per_label: int = 4):
    if not (EXPR / "ckplus48").is_dir():
        missing(f"{EXPR / 'ckplus48'} is not there")
    root = tmp_path / "set"
    for label_dir in sorted((EXPR / "ckplus48").iterdir()):
        (root / label_dir.name).mkdir(parents=True)
        for f in sorted(label_dir.iterdir())[:n_per_label]:
            (root / label_dir.name / f.name).symlink_to(f)
    return root


def test_eval_expressions_json_and_unreadable(tmp_path, capsys) -> None:
    root = _slice(tmp_path)
    (root / "happy" / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "r.json"
    assert main(["eval", "expressions", str(root), "--crop", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["n"] == 24 and r["unreadable"] == 1 and r["unreadable_images"][0]["image"].endswith("broken.jpg")
    assert sum(sum(row.values()) for row in r["confusion"].values()) == r["n"]
    for key in ("accuracy", "balanced_accuracy", "recall", "confusion", "missed", "ece", "accuracy_ci95"):
        assert key in r


def test_unknown_label_folder_is_a_clear_error(tmp_path, capsys) -> None:
    root = _slice(tmp_path, 1)
    (root / "contempt").mkdir()
    assert main(["eval", "expressions", str(root), "--crop"]) == 1
    assert "contempt" in capsys.readouterr().err


def test_calibrated_keeps_the_dominant_label_and_raw_numbers(tmp_path) -> None:
    from faceapi import expression_models
    from faceapi.image import load_image
    from faceapi.pipeline import FaceAnalyzer

    root = _slice(tmp_path)
    crops = [load_image(p) for p in sorted(root.rglob("*.png")) + sorted(root.rglob("*.jpg"))]
    a = FaceAnalyzer()
    raw = a.expression_net().predict(crops)
    cal = expression_models.predict(a, crops, "faceapi", calibrated=True)
    assert [e.probabilities for e in raw] == [e.probabilities for e in cal]
    assert all(e.calibrated is not None and int(np.argmax(e.calibrated)) == int(np.argmax(e.probabilities))
               for e in cal)
