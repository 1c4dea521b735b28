"""`faceapi export-onnx`: the exported files stand on their own.

* every graph, loaded in a fresh onnxruntime session, gives the engine's raw outputs on the same batch;
* fed and decoded using only what its JSON says (padding rule, resize formula, input size, output
  decoding, NMS thresholds, labels) -- none of faceapi's own pre- or post-processing -- each net gives
  face-api.js's reference outputs on bbt4 (decoded.png and its exact face crops), within the tolerances
  of the parity tests (detectors: 0.5 px, score 0.005; face nets: 0.05 px, 1e-3, 0.05 years, L2 1e-3).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from faceapi.cli.main import main
from faceapi.engine.runtime import RuntimeConfig, session_options
from faceapi.nets import NET_SPECS
from faceapi.pipeline import FaceAnalyzer
from faceapi.results import Box

from helpers import read_rgb, write_artifact

NAMES = [s.name for s in NET_SPECS]
#: which of the reference's exact crops each face net takes (what its JSON's "crop" describes)
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


@pytest.fixture(scope="module")
def bbt4(shared_dir) -> tuple[Path, dict[str, Any]]:
    folder = shared_dir / "reference" / "bbt4"
    return folder, json.loads((folder / "result.json").read_text())


def _desc(exported: Path, name: str) -> dict[str, Any]:
    return json.loads((exported / f"{name}.json").read_text())


def _session(exported: Path, name: str) -> ort.InferenceSession:
    """A plain CPU session for an exported file, built with options this process allows (a process whose
    faceapi sessions share onnxruntime's global pool refuses sessions with pools of their own)."""
    options, providers = session_options(RuntimeConfig(providers=("CPUExecutionProvider",)))
    return ort.InferenceSession(str(exported / f"{name}.onnx"), sess_options=options, providers=providers)


# -- feeding a net from its JSON alone ---------------------------------------------------------------


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _pad(image: np.ndarray, padding: dict[str, Any]) -> np.ndarray:
    """The JSON's padding rule: zeros to a square of side max(H, W), at the bottom/right or centred."""
    h, w = image.shape[:2]
    diff = abs(h - w)
    if padding["rule"] == "bottom_right":
        before = 0
    elif padding["rule"] == "centred":
        before = diff - _round_half_up(diff / 2)  # after = round_half_up(diff / 2) at the bottom/right
    else:
        raise AssertionError(f"padding rule {padding['rule']!r} not described")
    side = max(h, w)
    out = np.full((side, side, 3), padding["value"], np.float64)
    if h > w:
        out[:, before : before + w] = image
    else:
        out[before : before + h] = image
    return out


def _resize(square: np.ndarray, size: int, resize: dict[str, Any]) -> np.ndarray:
    """The JSON's resize formula: src = r * in / S, y0 = floor(src), y1 = min(in - 1, ceil(src)), fy = src - y0;
    top = tl + (tr - tl) * fx, bottom = bl + (br - bl) * fx, value = top + (bottom - top) * fy."""
    assert resize["align_corners"] is False and resize["half_pixel_centers"] is False
    n = square.shape[0]
    if n == size:  # "no resize when the padded side already equals S"
        return square.astype(np.float32)
    src = np.arange(size) * (n / size)
    lo = np.floor(src).astype(int)
    hi = np.minimum(n - 1, np.ceil(src).astype(int))
    frac = src - lo
    fx = frac[None, :, None]
    top = square[lo][:, lo] + (square[lo][:, hi] - square[lo][:, lo]) * fx
    bottom = square[hi][:, lo] + (square[hi][:, hi] - square[hi][:, lo]) * fx
    return (top + (bottom - top) * frac[:, None, None]).astype(np.float32)


def _feed(images: list[np.ndarray], desc: dict[str, Any], size: int) -> np.ndarray:
    pre = desc["preprocessing"]
    assert pre["normalisation"]["inside_graph"] is True  # raw pixels go in
    assert desc["input"]["layout"] == "NHWC" and desc["input"]["color"] == "RGB"
    return np.stack([_resize(_pad(im.astype(np.float64), pre["padding"]), size, pre["resize"]) for im in images])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _greedy_nms(boxes: list[Box], scores: list[float], iou_threshold: float, limit: int | None = None) -> list[int]:
    """By descending score; a box whose IoU with a kept one is above the threshold is dropped."""
    keep: list[int] = []
    for i in sorted(range(len(scores)), key=lambda k: -scores[k]):
        if limit is not None and len(keep) >= limit:
            break
        if all(boxes[i].iou(boxes[k]) <= iou_threshold for k in keep):
            keep.append(i)
    return keep


def _decode_ssd(outputs: dict[str, np.ndarray], anchors: np.ndarray, desc: dict[str, Any], width: int,
                height: int) -> list[dict[str, Any]]:
    """The JSON's SSD post-processing, step by step."""
    enc = outputs["box_encodings"][0].astype(np.float64)
    anc = anchors.astype(np.float64)
    ha, wa = anc[:, 2] - anc[:, 0], anc[:, 3] - anc[:, 1]
    yca, xca = anc[:, 0] + ha / 2, anc[:, 1] + wa / 2
    half_h, half_w = np.exp(enc[:, 2] / 5) * ha / 2, np.exp(enc[:, 3] / 5) * wa / 2
    yc, xc = enc[:, 0] / 10 * ha + yca, enc[:, 1] / 10 * wa + xca
    ymin, xmin, ymax, xmax = yc - half_h, xc - half_w, yc + half_h, xc + half_w
    scores = _sigmoid(outputs["class_logits"][0])
    nms = desc["nms"]
    cand = [i for i in range(len(scores)) if scores[i] > nms["default_min_confidence"]]
    boxes = [Box(xmin[i], ymin[i], xmax[i] - xmin[i], ymax[i] - ymin[i]) for i in cand]
    keep = _greedy_nms(boxes, [scores[i] for i in cand], nms["iou_threshold"], nms["default_max_results"])
    size = desc["preprocessing"]["input_size"]
    rw = _round_half_up(width * size / max(width, height))
    rh = _round_half_up(height * size / max(width, height))
    found = []
    for k in keep:
        i = cand[k]
        top, bottom = max(0.0, ymin[i]) * size / rh * height, min(1.0, ymax[i]) * size / rh * height
        left, right = max(0.0, xmin[i]) * size / rw * width, min(1.0, xmax[i]) * size / rw * width
        found.append({"score": float(scores[i]), "box": Box(left, top, right - left, bottom - top)})
    return found


def _decode_tiny(grid: np.ndarray, desc: dict[str, Any], size: int, width: int, height: int) -> list[dict[str, Any]]:
    """The JSON's Tiny Face Detector post-processing, step by step."""
    anchors = desc["anchors"]
    n = size // 32
    cells = grid[0].astype(np.float64).reshape(n, n, len(anchors), 5)
    rw = _round_half_up(width * size / max(width, height))
    rh = _round_half_up(height * size / max(width, height))
    fx, fy = max(rw, rh) / rw, max(rw, rh) / rh
    boxes, scores = [], []
    for row in range(n):
        for col in range(n):
            for a, (aw, ah) in enumerate(anchors):
                tx, ty, tw, th, logit = cells[row, col, a]
                score = float(_sigmoid(logit))
                if score <= desc["nms"]["default_score_threshold"]:
                    continue
                cx, cy = (col + _sigmoid(tx)) / n * fx, (row + _sigmoid(ty)) / n * fy
                w, h = math.exp(tw) * aw / n * fx, math.exp(th) * ah / n * fy
                boxes.append(Box(cx - w / 2, cy - h / 2, w, h))
                scores.append(score)
    keep = _greedy_nms([b.scaled(size, size) for b in boxes], scores, desc["nms"]["iou_threshold"])
    return [{"score": scores[k], "box": boxes[k].scaled(width, height)} for k in keep]


def _compare_detections(name: str, found: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    report = {"found": [{"score": f["score"], "box": f["box"].to_dict()} for f in found], "expected": expected}
    assert len(found) == len(expected), write_artifact(f"export-decode-{name}", report)
    for f, e in zip(found, expected):  # same order: face-api.js's, by score
        box_err = max(abs(getattr(f["box"], k) - e["box"][k]) for k in ("x", "y", "width", "height"))
        if box_err > 0.5 or abs(f["score"] - e["score"]) > 0.005:
            path = write_artifact(f"export-decode-{name}", report)
            pytest.fail(f"{name}: box off by {box_err:.4g} px, score by {abs(f['score'] - e['score']):.4g} ({path})")


# -- tests --------------------------------------------------------------------------------------------


def test_export_writes_every_net(exported):
    index = json.loads((exported / "index.json").read_text())
    assert [e["net"] for e in index["nets"]] == NAMES
    for name in NAMES:
        assert (exported / f"{name}.onnx").is_file()
        desc = _desc(exported, name)
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
        assert json.loads(meta["faceapi.description"])["name"] == name
    assert np.load(exported / "ssd_mobilenetv1.anchors.npy").shape == (5118, 4)


@pytest.mark.parametrize("name", NAMES)
def test_exported_graph_gives_engine_numbers(name, exported, analyzer, bbt4):
    folder, _ = bbt4
    desc = _desc(exported, name)
    if name in CROPS:
        batch = _feed([read_rgb(folder / f"face{i}_{CROPS[name]}.png") for i in range(6)], desc,
                      desc["preprocessing"]["input_size"])
    else:
        size = desc["preprocessing"]["input_size"] if name == "ssd_mobilenetv1" else 416
        batch = _feed([read_rgb(folder / "decoded.png")], desc, size)
    engine = analyzer.net(name).forward(batch)
    session = _session(exported, name)
    assert session.get_inputs()[0].name == desc["input"]["name"]
    got = session.run(None, {desc["input"]["name"]: batch})
    assert len(got) == len(engine)
    for out, a, b in zip(desc["outputs"], got, engine):
        if not np.allclose(a, b, rtol=1e-4, atol=1e-4):
            write_artifact(f"export_{name}_{out['name']}", {"exported": a, "engine": b})
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"{name}.{out['name']}")


def test_exported_ssd_decoded_from_its_json_gives_faceapi_js_faces(exported, bbt4):
    folder, ref = bbt4
    desc = _desc(exported, "ssd_mobilenetv1")
    image = read_rgb(folder / "decoded.png")
    h, w = image.shape[:2]
    session = _session(exported, "ssd_mobilenetv1")
    values = session.run(None, {"input": _feed([image], desc, desc["preprocessing"]["input_size"])})
    outputs = {o["name"]: v for o, v in zip(desc["outputs"], values)}
    anchors = np.load(exported / desc["anchors_file"])
    np.testing.assert_array_equal(anchors, outputs["anchors"])
    found = _decode_ssd(outputs, anchors, desc, w, h)
    _compare_detections("ssd_mobilenetv1", found, ref["ssdMobilenetv1"]["detections"])


@pytest.mark.parametrize("size", [128, 416, 608])
def test_exported_tiny_detector_decoded_from_its_json_gives_faceapi_js_faces(size, exported, bbt4):
    folder, ref = bbt4
    desc = _desc(exported, "tiny_face_detector")
    image = read_rgb(folder / "decoded.png")
    h, w = image.shape[:2]
    (grid,) = _session(exported, "tiny_face_detector").run(None, {"input": _feed([image], desc, size)})
    found = _decode_tiny(grid, desc, size, w, h)
    _compare_detections(f"tiny_face_detector-{size}", found, ref["tinyFaceDetector"][str(size)]["detections"])


@pytest.mark.parametrize("name", list(CROPS))
def test_exported_face_net_decoded_from_its_json_gives_faceapi_js_outputs(name, exported, bbt4):
    folder, ref = bbt4
    desc = _desc(exported, name)
    kind = CROPS[name]
    crops = [read_rgb(folder / f"face{i}_{kind}.png") for i in range(len(ref["faces"]))]
    size = desc["preprocessing"]["input_size"]
    values = _session(exported, name).run(None, {"input": _feed(crops, desc, size)})
    outputs = {o["name"]: v for o, v in zip(desc["outputs"], values)}
    errors: list[tuple[int, str, float, float]] = []  # (face, quantity, error, limit)
    for i, (crop, face) in enumerate(zip(crops, ref["faces"])):
        expected = face["crops"][kind]["netOutputs"]
        if name.startswith("face_landmark_68"):
            # scale = S / max(W, H), w = W * scale, h = H * scale; pad on the short side; rel = (x*S - pad) / w
            height, width = crop.shape[:2]
            scale = size / max(width, height)
            sw, sh = width * scale, height * scale
            pad_x = (sh - sw) / 2 if sw < sh else 0.0
            pad_y = (sw - sh) / 2 if sh < sw else 0.0
            xy = outputs["landmarks"][i].astype(np.float64).reshape(68, 2)
            px = np.stack([(xy[:, 0] * size - pad_x) / sw * width, (xy[:, 1] * size - pad_y) / sh * height], 1)
            want = np.array(expected["faceLandmark68Tiny" if name.endswith("tiny") else "faceLandmark68"]["positions"])
            errors.append((i, "positions px", float(np.abs(px - want).max()), 0.05))
        elif name == "face_expression":
            logits = outputs["logits"][i].astype(np.float64)
            probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            want = expected["faceExpression"]["probabilities"]
            errors.append((i, "probabilities", max(abs(p - want[label]) for label, p in zip(desc["labels"], probs)),
                           1e-3))
        elif name == "age_gender":
            age, (p_male, p_female) = float(outputs["age"][i]), outputs["gender"][i]
            want = expected["ageGender"]
            assert ("male" if p_male > 0.5 else "female") == want["gender"], f"face {i}"
            errors.append((i, "age", abs(age - want["age"]), 0.05))
            errors.append((i, "gender probability", abs(float(max(p_male, p_female)) - want["genderProbability"]),
                           1e-3))
        else:
            descriptor = outputs["descriptor"][i].astype(np.float64)
            want = np.array(expected["faceRecognition"]["descriptor"])
            errors.append((i, "descriptor L2", float(np.linalg.norm(descriptor - want)), 1e-3))
    bad = [e for e in errors if e[2] > e[3]]
    if bad:
        path = write_artifact(f"export-decode-{name}", {"errors": errors})
        pytest.fail(f"{name}: decoded from its JSON alone, off face-api.js: {bad} ({path})")
