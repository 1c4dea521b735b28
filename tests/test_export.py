"""`faceapi export-onnx`: every exported graph, loaded in a fresh onnxruntime session, gives the engine's
numbers on real inputs (bbt4 and its face crops), and its JSON describes the graph's real inputs/outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from faceapi.cli.main import main
from faceapi.engine.runtime import RuntimeConfig, session_options
from faceapi.nets import ssd_mobilenetv1 as ssd_mod
from faceapi.nets import tiny_face_detector as tiny_mod
from faceapi.nets.face_recognition import preprocess as preprocess_150
from faceapi.nets.feature_extractor import preprocess_112
from faceapi.options import SsdMobilenetv1Options, TinyFaceDetectorOptions
from faceapi.pipeline import NETS, FaceAnalyzer

from helpers import read_rgb, write_artifact

#: which reference crops each face net takes
CROPS = {
    "face_landmark_68": "detection",
    "face_landmark_68_tiny": "detection",
    "face_expression": "aligned",
    "age_gender": "aligned",
    "face_recognition": "dlib",
}


@pytest.fixture(scope="module")
def analyzer(models_dir) -> FaceAnalyzer:
    return FaceAnalyzer(models_dir, RuntimeConfig(threads=1))


@pytest.fixture(scope="module")
def exported(models_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx")
    assert main(["export-onnx", str(out), "--models-dir", str(models_dir)]) == 0
    return out


def _inputs(name: str, shared_dir: Path) -> np.ndarray:
    ref = shared_dir / "reference" / "bbt4"
    if name == "ssd_mobilenetv1":
        return ssd_mod.preprocess(read_rgb(shared_dir / "images" / "bbt4.jpg"))[0]
    if name == "tiny_face_detector":
        return tiny_mod.preprocess(read_rgb(shared_dir / "images" / "bbt4.jpg"), 416)[0]
    crops = [read_rgb(ref / f"face{i}_{CROPS[name]}.png") for i in range(6)]
    return preprocess_150(crops) if name == "face_recognition" else preprocess_112(crops)


def test_export_writes_every_net(exported):
    index = json.loads((exported / "index.json").read_text())
    assert [e["net"] for e in index["nets"]] == list(NETS)
    for name in NETS:
        assert (exported / f"{name}.onnx").is_file()
        desc = json.loads((exported / f"{name}.json").read_text())
        assert desc["name"] == name and desc["file"] == f"{name}.onnx"
        assert desc["input"]["layout"] == "NHWC" and desc["input"]["dtype"] == "float32"
        assert desc["preprocessing"]["normalisation"]["inside_graph"] is True
        assert desc["preprocessing"]["resize"]["align_corners"] is False
        assert desc["preprocessing"]["resize"]["half_pixel_centers"] is False
        expected_pad = "bottom_right" if name in ("ssd_mobilenetv1", "tiny_face_detector") else "centred"
        assert desc["preprocessing"]["padding"]["rule"] == expected_pad
        model = onnx.load(str(exported / f"{name}.onnx"))
        onnx.checker.check_model(model)
        assert [o["name"] for o in desc["outputs"]] == [o.name for o in model.graph.output]
        assert all(o["meaning"] for o in desc["outputs"])
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["faceapi.net"] == name
    assert np.load(exported / "ssd_mobilenetv1.anchors.npy").shape == (5118, 4)


def _session(path: Path) -> ort.InferenceSession:
    """A plain CPU session for an exported file, built with options this process allows (a process whose
    faceapi sessions share onnxruntime's global pool refuses sessions with pools of their own)."""
    options, providers = session_options(RuntimeConfig(providers=("CPUExecutionProvider",)))
    return ort.InferenceSession(str(path), sess_options=options, providers=providers)


@pytest.mark.parametrize("name", list(NETS))
def test_exported_graph_gives_engine_numbers(name, exported, analyzer, shared_dir):
    batch = _inputs(name, shared_dir)
    engine = analyzer.net(name).run(batch)
    session = _session(exported / f"{name}.onnx")
    desc = json.loads((exported / f"{name}.json").read_text())
    assert session.get_inputs()[0].name == desc["input"]["name"]
    got = session.run(None, {desc["input"]["name"]: batch})
    assert len(got) == len(engine)
    for out, a, b in zip(desc["outputs"], got, engine):
        if not np.allclose(a, b, rtol=1e-4, atol=1e-4):
            write_artifact(f"export_{name}_{out['name']}", {"exported": a, "engine": b})
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"{name}.{out['name']}")


def test_exported_detectors_decode_to_the_engines_faces(exported, analyzer, shared_dir):
    """Following the JSON's post-processing (here: the engine's own functions) on the exported outputs."""
    image = read_rgb(shared_dir / "images" / "bbt4.jpg")
    h, w = image.shape[:2]
    ssd = _session(exported / "ssd_mobilenetv1.onnx")
    batch, size = ssd_mod.preprocess(image)
    outs = ssd.run(None, {"input": batch})
    anchors = np.load(exported / "ssd_mobilenetv1.anchors.npy")
    dets = ssd_mod.postprocess(outs, size, anchors, SsdMobilenetv1Options())
    engine = analyzer.net("ssd_mobilenetv1").detect(image, SsdMobilenetv1Options())
    assert len(dets) == len(engine) == 6
    for a, b in zip(dets, engine):
        assert abs(a.box.x - b.box.x) < 0.05 and abs(a.box.width - b.box.width) < 0.05

    tiny = _session(exported / "tiny_face_detector.onnx")
    desc = json.loads((exported / "tiny_face_detector.json").read_text())
    assert desc["anchors"] == [list(a) for a in tiny_mod.ANCHORS]
    batch, size = tiny_mod.preprocess(image, 416)
    grid = tiny.run(None, {"input": batch})[0]
    dets = tiny_mod.postprocess(grid[0], (w, h), 416, 0.5)
    engine = analyzer.net("tiny_face_detector").detect(image, TinyFaceDetectorOptions())
    assert len(dets) == len(engine) > 0
    for a, b in zip(dets, engine):
        assert abs(a.box.x - b.box.x) < 0.05 and abs(a.box.y - b.box.y) < 0.05
