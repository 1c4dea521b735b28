"""The on-disk graph cache is verified before use: a graph changed on disk is rebuilt, never run."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from faceapi.models import MODELS
from faceapi.nets.tiny_face_detector import TinyFaceDetector
from faceapi.options import TinyFaceDetectorOptions

from helpers import read_rgb

NAME = "tiny_face_detector_model"


@pytest.fixture
def own_models(models_dir, tmp_path) -> Path:
    """A model folder of our own (the tiny detector only), so its graph cache can be edited."""
    for f in MODELS[NAME].files:
        shutil.copy(models_dir / f, tmp_path / f)
    return tmp_path


def _bbt4_reference(shared_dir: Path) -> tuple[np.ndarray, list[dict]]:
    folder = shared_dir / "reference" / "bbt4"
    result = json.loads((folder / "result.json").read_text())
    return read_rgb(folder / "decoded.png"), result["tinyFaceDetector"]["416"]["detections"]


def _assert_matches_reference(net: TinyFaceDetector, image: np.ndarray, expected: list[dict]) -> None:
    found = net.detect(image, TinyFaceDetectorOptions(input_size=416))
    assert len(found) == len(expected) > 0
    for det, ref in zip(found, expected):
        assert abs(det.score - ref["score"]) < 0.005
        box = det.box.to_dict()
        assert max(abs(box[k] - ref["box"][k]) for k in ("x", "y", "width", "height")) < 0.5


def _cached(folder: Path) -> Path:
    (graph,) = (folder / "onnx").glob(f"{NAME}-*.onnx")
    return graph


def test_tampered_cached_graph_is_rebuilt_not_run(own_models, shared_dir, caplog):
    image, expected = _bbt4_reference(shared_dir)
    _assert_matches_reference(TinyFaceDetector(own_models), image, expected)
    graph_path = _cached(own_models)
    assert graph_path.with_name(graph_path.name + ".sha256").is_file()

    # zero every weight of the cached graph, keeping its name and its SHA-256 record
    model = onnx.load(graph_path)
    for init in model.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(init)), init.name))
    graph_path.write_bytes(model.SerializeToString())
    tampered = graph_path.read_bytes()

    with caplog.at_level(logging.WARNING, logger="faceapi"):
        net = TinyFaceDetector(own_models)
    assert any("does not match its recorded SHA-256" in r.getMessage() for r in caplog.records)
    _assert_matches_reference(net, image, expected)
    assert graph_path.read_bytes() != tampered  # and the cache holds the rebuilt graph again


def test_cached_graph_without_a_record_is_rebuilt(own_models, shared_dir):
    image, expected = _bbt4_reference(shared_dir)
    TinyFaceDetector(own_models)
    graph_path = _cached(own_models)
    record = graph_path.with_name(graph_path.name + ".sha256")
    good = graph_path.read_bytes()
    record.unlink()
    graph_path.write_bytes(good[: len(good) // 2])  # a truncated graph with no record (e.g. an older cache)
    _assert_matches_reference(TinyFaceDetector(own_models), image, expected)
    assert graph_path.read_bytes() == good and record.is_file()
