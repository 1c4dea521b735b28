"""`--expression-model faceapi` (and no option at all) is face-api.js's net: the chain's expressions equal
face-api.js 0.22.2's own outputs (reference/<image>/result.json) within the parity tolerance of
tests/test_pipeline.py (0.01), with the option and without, through the library and the CLI; the option,
its absence and ``calibrated`` give the very same raw probabilities (bit for bit)."""

from __future__ import annotations

import json

import pytest

from faceapi import AnalyzeOptions, FaceAnalyzer, expression_models
from faceapi.cli.main import main
from faceapi.results import EXPRESSION_LABELS

from helpers import SHARED, read_rgb, reference_names

#: tests/test_pipeline.py's tolerance for expressions
TOLERANCE = 0.01
WITH_FACES = [n for n in reference_names()
              if json.loads((SHARED / "reference" / n / "result.json").read_text())["faces"]]
#: the CLI runs a few images (each run loads the nets); the library runs them all
CLI_IMAGES = WITH_FACES[:: max(1, len(WITH_FACES) // 5)]


def _reference(shared_dir, name: str) -> list[list[float]]:
    ref = json.loads((shared_dir / "reference" / name / "result.json").read_text())
    return [[f["pipeline"]["expressions"]["probabilities"][k] for k in EXPRESSION_LABELS] for f in ref["faces"]]


def _off(actual: list[list[float]], expected: list[list[float]]) -> float:
    assert len(actual) == len(expected), f"{len(actual)} faces, face-api.js found {len(expected)}"
    return max(abs(a - e) for fa, fe in zip(actual, expected) for a, e in zip(fa, fe))


@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir)


def test_default_model_is_faceapi() -> None:
    assert expression_models.DEFAULT_MODEL == "faceapi" and AnalyzeOptions().expression_model == "faceapi"


@pytest.mark.parametrize("name", WITH_FACES)
def test_library_faceapi_model_gives_faceapi_js_numbers(name, analyzer, shared_dir) -> None:
    image = read_rgb(shared_dir / "reference" / name / "decoded.png")
    expected = _reference(shared_dir, name)
    runs = {}
    for label, extra in (("no option", {}), ("faceapi", {"expression_model": "faceapi"}),
                         ("faceapi calibrated", {"expression_model": "faceapi", "calibrated": True})):
        faces = analyzer.analyze(image, AnalyzeOptions(landmarks="full", expressions=True, **extra)).faces
        runs[label] = [list(f.expressions.probabilities) for f in faces if f.expressions is not None]
        assert _off(runs[label], expected) <= TOLERANCE, f"{name} ({label})"
        assert all(f.expressions is not None and f.expressions.model is None for f in faces)
    assert runs["no option"] == runs["faceapi"] == runs["faceapi calibrated"]


def test_cli_faceapi_model_gives_faceapi_js_numbers(tmp_path, shared_dir, models_dir) -> None:
    paths = [str(shared_dir / "reference" / n / "decoded.png") for n in CLI_IMAGES]
    runs = {}
    for label, extra in (("no option", []), ("faceapi", ["--expression-model", "faceapi"]),
                         ("faceapi calibrated", ["--expression-model", "faceapi", "--calibrated"])):
        out = tmp_path / f"{label}.jsonl"
        assert main(["analyze", *paths, "--landmarks", "full", "--expressions", *extra, "--out", str(out)]) == 0
        lines = {json.loads(line)["source"]: json.loads(line) for line in out.read_text().splitlines()}
        runs[label] = {}
        for name, path in zip(CLI_IMAGES, paths):
            faces = lines[path]["faces"]
            got = [[f["expressions"]["probabilities"][k] for k in EXPRESSION_LABELS] for f in faces]
            assert _off(got, _reference(shared_dir, name)) <= TOLERANCE, f"{name} ({label})"
            assert all(("calibrated" in f["expressions"]) == ("--calibrated" in extra) for f in faces)
            runs[label][name] = got
    assert runs["no option"] == runs["faceapi"] == runs["faceapi calibrated"]


def test_cli_unknown_expression_model_is_a_clear_error(capsys, shared_dir) -> None:
    path = str(shared_dir / "reference" / WITH_FACES[0] / "decoded.png")
    assert main(["analyze", path, "--expressions", "--expression-model", "no-such-model"]) == 1
    err = capsys.readouterr().err
    assert "no-such-model" in err and "faceapi" in err and "Traceback" not in err
