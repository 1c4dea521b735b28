"""Export the seven nets as standalone ONNX files, each with a JSON file beside it that says how to feed it
(input layout, the padding and resize rules, the normalisation already inside the graph) and what its
outputs mean, so the graphs can be run without faceapi (onnxruntime, OpenCV DNN, ...).

Files per net ``NAME`` (the names of `faceapi.pipeline.NETS`): ``NAME.onnx``, ``NAME.json``; the SSD
detector's anchors also as ``ssd_mobilenetv1.anchors.npy`` (they are a graph output too). ``index.json``
lists what was written. The ONNX files carry the same description as model metadata
(``faceapi.description``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from faceapi import __version__
from faceapi.nets.feature_extractor import MEAN_RGB as FACE_MEAN_RGB
from faceapi.nets.ssd_mobilenetv1 import INPUT_MULTIPLIER, NUM_ANCHORS
from faceapi.nets.tiny_face_detector import ANCHORS as TINY_ANCHORS
from faceapi.nets.tiny_face_detector import DIVISOR as TINY_DIVISOR
from faceapi.nets.tiny_face_detector import MEAN_RGB as TINY_MEAN_RGB
from faceapi.pipeline import NETS, FaceAnalyzer
from faceapi.results import EXPRESSION_LABELS

RESIZE = {
    "op": "tf.image.resizeBilinear (tfjs)",
    "align_corners": False,
    "half_pixel_centers": False,
    "formula": "for output row r: src = r * in / S, y0 = floor(src), y1 = min(in - 1, ceil(src)), "
               "fy = src - y0 (same for columns); no anti-aliasing when downscaling",
    "equivalents": "ONNX Resize(mode='linear', coordinate_transformation_mode='asymmetric'); TF1 "
                   "resize_bilinear(align_corners=False). NOT PIL / OpenCV INTER_LINEAR / PyTorch "
                   "(half-pixel centres); those give slightly different numbers",
    "skip": "no resize when the padded side already equals S",
}

PAD_BOTTOM_RIGHT = {
    "rule": "bottom_right",
    "value": 0,
    "description": "zero-pad the short side to a square of side max(H, W); all padding at the bottom (H < W) "
                   "or right (W < H); the image stays at the top-left",
}

PAD_CENTRED = {
    "rule": "centred",
    "value": 0,
    "description": "zero-pad the short side to a square of side max(H, W): after = round_half_up(diff / 2) "
                   "rows/columns at the bottom/right, before = diff - after at the top/left (an odd "
                   "difference puts the extra pixel at the end)",
}


def _input(size: int | str) -> dict:
    shape = ["N", size, size, 3]
    return {
        "name": "input",
        "shape": shape,
        "dtype": "float32",
        "layout": "NHWC",
        "color": "RGB",
        "range": "raw pixel values 0..255 (not normalised: the graph normalises)",
    }


def _norm(formula: str, **consts) -> dict:
    return {"inside_graph": True, "formula": formula, **consts,
            "note": "already applied by the graph's first nodes; do not normalise before feeding"}


_FACE_CROP_NOTE = ("face-api.js crops with integer slices: box clipped to the image, then x, y, width, height "
                   "each floored (no resampling)")

DESCRIPTIONS: dict[str, dict[str, Any]] = {
    "ssd_mobilenetv1": {
        "summary": "SSD MobileNetV1 face detector (face-api.js's default detector)",
        "input": _input(512),
        "preprocessing": {"input_size": 512, "padding": PAD_BOTTOM_RIGHT, "resize": RESIZE,
                          "normalisation": _norm("x * 0.007843137718737125 - 1", multiplier=INPUT_MULTIPLIER,
                                                 offset=1.0)},
        "outputs": {
            "box_encodings": "[N, 5118, 4] raw box regressions (ty, tx, th, tw) per anchor",
            "class_logits": "[N, 5118] face-class logit per anchor (score = sigmoid(logit))",
            "anchors": "[5118, 4] anchor boxes (ymin, xmin, ymax, xmax), relative to the 512 input; the same "
                       "values are in ssd_mobilenetv1.anchors.npy",
        },
        "postprocessing": [
            "decode per anchor (float32): ha = ymax - ymin, wa = xmax - xmin, yca = ymin + ha/2, "
            "xca = xmin + wa/2; h/2 = exp(th/5) * ha / 2, yc = ty/10 * ha + yca, w/2 = exp(tw/5) * wa / 2, "
            "xc = tx/10 * wa + xca; box = (yc - h/2, xc - w/2, yc + h/2, xc + w/2)",
            "score = sigmoid(class_logit); keep score > min_confidence (default 0.5)",
            "non-maximum suppression (IoU > 0.5 suppresses), at most max_results (default 100), by score",
            "to image pixels: (rw, rh) = round(W * 512/max(W,H)), round(H * 512/max(W,H)); "
            "top = max(0, ymin) * 512/rh * H, bottom = min(1, ymax) * 512/rh * H, "
            "left = max(0, xmin) * 512/rw * W, right = min(1, xmax) * 512/rw * W",
        ],
        "anchors_file": "ssd_mobilenetv1.anchors.npy",
    },
    "tiny_face_detector": {
        "summary": "Tiny Face Detector (Tiny YOLO v2 with separable convolutions), fast and small",
        "input": _input("S"),
        "preprocessing": {"input_size": "S: any multiple of 32 (face-api.js default 416; 128..608 typical)",
                          "padding": PAD_BOTTOM_RIGHT, "resize": RESIZE,
                          "normalisation": _norm("(x - mean) / 256", mean_rgb=list(TINY_MEAN_RGB),
                                                 divisor=TINY_DIVISOR)},
        "outputs": {
            "grid": "[N, S/32, S/32, 25] per cell 5 anchors x (tx, ty, tw, th, score_logit)",
        },
        "postprocessing": [
            "n = S/32; for cell (row, col) and anchor a with (aw, ah) = anchors[a]: "
            "score = sigmoid(score_logit); keep score > score_threshold (default 0.5)",
            "(rw, rh) = round(W * S/max(W,H)), round(H * S/max(W,H)); fx = max(rw, rh)/rw, fy = max(rw, rh)/rh",
            "cx = (col + sigmoid(tx)) / n * fx, cy = (row + sigmoid(ty)) / n * fy, "
            "w = exp(tw) * aw / n * fx, h = exp(th) * ah / n * fy; relative box = (cx - w/2, cy - h/2, w, h)",
            "non-maximum suppression on the boxes times S (IoU > 0.4 suppresses), by score",
            "to image pixels: multiply the relative box by (W, H); boxes are not clipped",
        ],
        "anchors": [list(a) for a in TINY_ANCHORS],
    },
    "face_landmark_68": {
        "summary": "68 facial landmarks (iBUG 68 order), full net",
        "input": _input(112),
        "crop": "the face detection box, " + _FACE_CROP_NOTE,
        "preprocessing": {"input_size": 112, "padding": PAD_CENTRED, "resize": RESIZE,
                          "normalisation": _norm("(x - mean) / 255", mean_rgb=list(FACE_MEAN_RGB), divisor=255.0)},
        "outputs": {"landmarks": "[N, 136] x0, y0, x1, y1, ... relative (0..1) to the padded 112 square"},
        "postprocessing": [
            "crop W x H: scale = 112 / max(W, H), w = W * scale, h = H * scale (not rounded); "
            "pad_x = (h - w)/2 if w < h else 0, pad_y = (w - h)/2 if h < w else 0",
            "relative to the crop: ((x * 112 - pad_x) / w, (y * 112 - pad_y) / h); "
            "crop pixels: times (W, H); image pixels: plus the detection box's (unfloored) x, y",
        ],
    },
    "face_landmark_68_tiny": {
        "summary": "68 facial landmarks, tiny net (faster, less accurate)",
        "input": _input(112),
        "crop": "the face detection box, " + _FACE_CROP_NOTE,
        "preprocessing": {"input_size": 112, "padding": PAD_CENTRED, "resize": RESIZE,
                          "normalisation": _norm("(x - mean) / 255", mean_rgb=list(FACE_MEAN_RGB), divisor=255.0)},
        "outputs": {"landmarks": "[N, 136] x0, y0, x1, y1, ... relative (0..1) to the padded 112 square"},
        "postprocessing": ["as face_landmark_68"],
    },
    "face_expression": {
        "summary": "seven facial expressions",
        "input": _input(112),
        "crop": "the landmark-aligned box (min bbox of the 68 landmarks padded by 20 %), or the detection box "
                "without landmarks; " + _FACE_CROP_NOTE,
        "preprocessing": {"input_size": 112, "padding": PAD_CENTRED, "resize": RESIZE,
                          "normalisation": _norm("(x - mean) / 255", mean_rgb=list(FACE_MEAN_RGB), divisor=255.0)},
        "outputs": {"logits": "[N, 7] expression logits (before softmax)"},
        "postprocessing": ["probabilities = softmax(logits)", "labels in order: " + ", ".join(EXPRESSION_LABELS)],
        "labels": list(EXPRESSION_LABELS),
    },
    "age_gender": {
        "summary": "age (years) and gender",
        "input": _input(112),
        "crop": "the landmark-aligned box (min bbox of the 68 landmarks padded by 20 %), or the detection box "
                "without landmarks; " + _FACE_CROP_NOTE,
        "preprocessing": {"input_size": 112, "padding": PAD_CENTRED, "resize": RESIZE,
                          "normalisation": _norm("(x - mean) / 256", mean_rgb=list(FACE_MEAN_RGB), divisor=256.0)},
        "outputs": {"age": "[N] age in years (unrounded regression)",
                    "gender": "[N, 2] softmax probabilities: index 0 male, 1 female"},
        "postprocessing": ["gender = male if gender[0] > 0.5 else female; its probability is the larger one"],
    },
    "face_recognition": {
        "summary": "128-d face descriptor (dlib ResNet-34-like); compare with Euclidean distance",
        "input": _input(150),
        "crop": "the dlib-style square from the landmarks: eye centres (36-41, 42-47) and mouth centre (48-67), "
                "size = floor(mean distance eye->mouth / 0.45), origin floor(max(0, centroid - (0.5, 0.43) * size))",
        "preprocessing": {"input_size": 150, "padding": PAD_CENTRED, "resize": RESIZE,
                          "normalisation": _norm("(x - mean) / 256", mean_rgb=list(FACE_MEAN_RGB), divisor=256.0)},
        "outputs": {"descriptor": "[N, 128] descriptor, not L2-normalised"},
        "postprocessing": ["same person when the Euclidean distance between descriptors is below 0.6"],
    },
}


def _shape(value_info: onnx.ValueInfoProto) -> list:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def _dtype(value_info: onnx.ValueInfoProto) -> str:
    return onnx.helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type).name


def describe(name: str, model: onnx.ModelProto, onnx_file: str) -> dict:
    """The JSON description of one exported net (the graph's real I/O plus `DESCRIPTIONS`)."""
    info = DESCRIPTIONS[name]
    outputs = []
    for o in model.graph.output:
        outputs.append({"name": o.name, "shape": _shape(o), "dtype": _dtype(o),
                        "meaning": info["outputs"].get(o.name, "")})
    graph_input = model.graph.input[0]
    desc = {
        "name": name,
        "file": onnx_file,
        "summary": info["summary"],
        "source": "face-api.js pretrained weights (justadudewhohacks/face-api.js, MIT), converted by faceapi "
                  f"{__version__}",
        "opset": max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")),
        "input": {**info["input"], "name": graph_input.name, "shape": _shape(graph_input),
                  "dtype": _dtype(graph_input)},
        "preprocessing": info["preprocessing"],
        "outputs": outputs,
        "postprocessing": info["postprocessing"],
        "runtimes": {
            "onnxruntime": "InferenceSession(file).run(None, {'input': batch}) with batch float32 [N, H, W, 3]",
            "opencv_dnn": "cv2.dnn.readNetFromONNX(file); net.setInput(batch) with the NHWC float32 array "
                          "itself (not cv2.dnn.blobFromImage, which gives NCHW and normalises)",
        },
    }
    for key in ("crop", "labels", "anchors", "anchors_file"):
        if key in info:
            desc[key] = info[key]
    return desc


def export_nets(folder: str | os.PathLike, analyzer: FaceAnalyzer | None = None,
                names: list[str] | None = None) -> list[dict]:
    """Write ``NAME.onnx`` and ``NAME.json`` for each net (all seven by default) into `folder`.

    Returns one entry per net: ``{"net", "onnx", "json", "bytes", "sha256"}`` (plus ``"anchors"`` for SSD).
    Raises ModelError when a net's weights are missing.
    """
    analyzer = analyzer or FaceAnalyzer()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(NETS):
        if name not in NETS:
            raise KeyError(f"unknown net {name!r}; known: {', '.join(NETS)}")
        net = analyzer.net(name)
        model = onnx.load_from_string(net.model_bytes)
        onnx_path = folder / f"{name}.onnx"
        desc = describe(name, model, onnx_path.name)
        model.doc_string = f"{desc['summary']} - faceapi export; see {name}.json"
        onnx.helper.set_model_props(model, {"faceapi.net": name, "faceapi.version": __version__,
                                            "faceapi.description": json.dumps(desc)})
        onnx.checker.check_model(model)
        data = model.SerializeToString()
        _write_bytes(onnx_path, data)
        entry: dict[str, Any] = {"net": name, "onnx": str(onnx_path), "bytes": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest()}
        if name == "ssd_mobilenetv1":
            anchors = _ssd_anchors(model)
            anchors_path = folder / "ssd_mobilenetv1.anchors.npy"
            tmp = anchors_path.with_name(".anchors.part.npy")
            np.save(tmp, anchors)
            os.replace(tmp, anchors_path)
            entry["anchors"] = str(anchors_path)
        desc["sha256"] = entry["sha256"]
        json_path = folder / f"{name}.json"
        _write_bytes(json_path, (json.dumps(desc, indent=2) + "\n").encode())
        entry["json"] = str(json_path)
        written.append(entry)
    _write_bytes(folder / "index.json", (json.dumps(
        {"faceapi": __version__, "nets": [{k: (Path(v).name if k in ("onnx", "json", "anchors") else v)
                                           for k, v in e.items()} for e in written]}, indent=2) + "\n").encode())
    return written


def _ssd_anchors(model: onnx.ModelProto) -> np.ndarray:
    """The ``[5118, 4]`` anchors the SSD graph returns (a Constant node feeding the ``anchors`` output)."""
    for node in model.graph.node:
        if node.op_type == "Constant" and "anchors" in node.output[0]:
            value = onnx.numpy_helper.to_array(node.attribute[0].t)
            if value.shape == (NUM_ANCHORS, 4):
                return value.astype(np.float32)
    raise ValueError("ssd_mobilenetv1 graph has no anchors constant")


def _write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
