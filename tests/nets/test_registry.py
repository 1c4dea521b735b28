"""The net registry: one `NetSpec` per net, and everything that lists nets derives from `NET_SPECS`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from faceapi.cli.main import build_parser
from faceapi.errors import OptionsError
from faceapi.models import MODELS
from faceapi.nets import NET_SPECS, Detector, FaceNet, net_names, spec
from faceapi.options import AnalyzeOptions, TinyFaceDetectorOptions
from faceapi.pipeline import FaceAnalyzer

LABELS = {
    "ssd_mobilenetv1": "SSD MobileNet V1",
    "tiny_face_detector": "Tiny Face Detector",
    "face_landmark_68": "68 landmarks",
    "face_landmark_68_tiny": "68 landmarks (tiny)",
    "face_expression": "Expressions",
    "age_gender": "Age & gender",
    "face_recognition": "Recognition (descriptors)",
}


def test_one_spec_per_net_with_its_facts():
    assert net_names() == tuple(LABELS)  # detectors first, then the face nets, in face-api.js's chain order
    assert {s.name: s.label for s in NET_SPECS} == LABELS
    assert sorted(s.model for s in NET_SPECS) == sorted(MODELS)  # every pinned model is read by one net
    for s in NET_SPECS:
        assert spec(s.name) is s and s.net_class.spec is s
        assert s.files == (f"{s.model}-weights_manifest.json", f"{s.model}.bin")
        assert s.kind == ("detector" if s.name in ("ssd_mobilenetv1", "tiny_face_detector") else "face")
        assert s.export["summary"] and s.export["outputs"]
    assert [s.input_size for s in NET_SPECS] == [512, None, 112, 112, 112, 112, 150]


def test_unknown_net_is_a_project_error(models_dir):
    with pytest.raises(OptionsError, match="unknown net 'nope'; known: ssd_mobilenetv1"):
        spec("nope")
    analyzer = FaceAnalyzer(models_dir)
    with pytest.raises(OptionsError, match="unknown net"):
        analyzer.net("nope")
    with pytest.raises(OptionsError, match="unknown net"):
        analyzer.load(["age_gender", "nope"])
    assert analyzer.loaded == []


def test_typed_accessors_load_the_nets_of_the_specs(models_dir):
    analyzer = FaceAnalyzer(models_dir)
    analyzer.load(["face_expression", "tiny_face_detector"])
    assert analyzer.loaded == ["tiny_face_detector", "face_expression"]  # NET_SPECS order
    assert analyzer.detector("tiny") is analyzer.net("tiny_face_detector")
    assert analyzer.expression_net() is analyzer.net("face_expression")
    detector: Detector[TinyFaceDetectorOptions] = analyzer.detector("tiny")
    face_net: FaceNet[object] = analyzer.expression_net()
    assert detector.spec.name == "tiny_face_detector" and face_net.spec.name == "face_expression"
    assert isinstance(analyzer.landmark_net("tiny"), spec("face_landmark_68_tiny").net_class)
    with pytest.raises(OptionsError):
        analyzer.detector("yolo")  # type: ignore[call-overload]


def test_nets_for_follows_the_options():
    assert FaceAnalyzer.nets_for(AnalyzeOptions()) == ["ssd_mobilenetv1"]
    assert FaceAnalyzer.nets_for(AnalyzeOptions(detector=TinyFaceDetectorOptions(), age_gender=True,
                                                expressions=True, landmarks="tiny")) == \
        ["tiny_face_detector", "face_landmark_68_tiny", "face_expression", "age_gender"]
    # descriptors need landmarks: the full net unless asked otherwise
    assert FaceAnalyzer.nets_for(AnalyzeOptions(descriptors=True)) == \
        ["ssd_mobilenetv1", "face_landmark_68", "face_recognition"]


def test_export_cli_offers_the_registry_names():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    nets = next(a for a in sub.choices["export-onnx"]._actions if a.dest == "nets")
    assert list(nets.choices) == list(net_names())


def test_registry_imports_without_onnx_or_onnxruntime():
    """Listing nets (the CLI's parser, /api/models) costs no onnx (0.7 s) or onnxruntime import."""
    code = ("import sys, faceapi.nets, faceapi.pipeline, faceapi.cli.main; faceapi.cli.main.build_parser(); "
            "print(sorted(m for m in ('onnx', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
