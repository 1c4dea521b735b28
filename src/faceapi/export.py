"""Export the seven nets as standalone ONNX files, each with a JSON file beside it that says how to feed it
(input layout, the padding and resize rules, the normalisation already inside the graph) and what its
outputs mean, so the graphs can be run without faceapi (onnxruntime, OpenCV DNN, ...).

Files per net ``NAME`` (a `faceapi.nets.NET_SPECS` name; the spec's ``export`` is the description):
``NAME.onnx``, ``NAME.json``; the SSD detector's anchors also as ``ssd_mobilenetv1.anchors.npy`` (they
are a graph output too). ``index.json`` lists what was written. The ONNX files carry the same
description as model metadata (``faceapi.description``).
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
from faceapi.errors import ModelError
from faceapi.fileio import atomic_open, atomic_write_bytes
from faceapi.nets import NET_SPECS, spec
from faceapi.nets.ssd_mobilenetv1 import NUM_ANCHORS
from faceapi.pipeline import FaceAnalyzer


def _shape(value_info: onnx.ValueInfoProto) -> list[int | str]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def _dtype(value_info: onnx.ValueInfoProto) -> str:
    return str(onnx.helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type).name)


def describe(name: str, model: onnx.ModelProto, onnx_file: str) -> dict[str, Any]:
    """The JSON description of one exported net (the graph's real I/O plus its spec's ``export``)."""
    info = spec(name).export
    outputs = []
    for o in model.graph.output:
        outputs.append({"name": o.name, "shape": _shape(o), "dtype": _dtype(o),
                        "meaning": info["outputs"].get(o.name, "")})
    graph_input = model.graph.input[0]
    desc: dict[str, Any] = {
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
    for key in ("crop", "labels", "nms", "anchors", "anchors_file"):
        if key in info:
            desc[key] = info[key]
    return desc


def export_nets(folder: str | os.PathLike[str], analyzer: FaceAnalyzer | None = None,
                names: list[str] | None = None) -> list[dict[str, Any]]:
    """Write ``NAME.onnx`` and ``NAME.json`` for each net (all seven by default) into `folder`.

    Returns one entry per net: ``{"net", "onnx", "json", "bytes", "sha256"}`` (plus ``"anchors"`` for SSD).
    Raises ModelError when a net's weights are missing, OptionsError for an unknown net name.
    """
    analyzer = analyzer or FaceAnalyzer()
    todo = [spec(n).name for n in names] if names else [s.name for s in NET_SPECS]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in todo:
        net = analyzer.net(name)
        model = onnx.load_from_string(net.model_bytes)
        onnx_path = folder / f"{name}.onnx"
        desc = describe(name, model, onnx_path.name)
        model.doc_string = f"{desc['summary']} - faceapi export; see {name}.json"
        onnx.helper.set_model_props(model, {"faceapi.net": name, "faceapi.version": __version__,
                                            "faceapi.description": json.dumps(desc)})
        onnx.checker.check_model(model)
        data = model.SerializeToString()
        atomic_write_bytes(onnx_path, data)
        entry: dict[str, Any] = {"net": name, "onnx": str(onnx_path), "bytes": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest()}
        if "anchors_file" in desc:
            anchors = _ssd_anchors(model)
            anchors_path = folder / desc["anchors_file"]
            with atomic_open(anchors_path) as f:
                np.save(f, anchors)
            entry["anchors"] = str(anchors_path)
        desc["sha256"] = entry["sha256"]
        json_path = folder / f"{name}.json"
        atomic_write_bytes(json_path, (json.dumps(desc, indent=2) + "\n").encode())
        entry["json"] = str(json_path)
        written.append(entry)
    atomic_write_bytes(folder / "index.json", (json.dumps(
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
    raise ModelError(f"ssd_mobilenetv1 graph has no anchors constant of shape ({NUM_ANCHORS}, 4)")

