"""FaceLandmark68Net and FaceLandmark68TinyNet (spec 4.3): 68 landmarks from a face crop.

Input: the crop padded to a square (centred), resized to 112, ``(x - mean) / 255``. The net's 136
outputs are ``x0, y0, x1, y1, ...`` relative to that padded square; `postprocess` removes the padding
in float32 exactly as face-api.js's ``postProcess`` does, then scales to crop pixels in float64 (JS numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi.models.manifest import WeightMap
from faceapi.nets.base import FaceCropNet, NetSpec
from faceapi.nets.describe import FACE_CROP_NOTE, face_preprocessing, net_input
from faceapi.nets.feature_extractor import (
    GRAPH_VERSION,
    INPUT_SIZE,
    MEAN_RGB,
    feature_net_graph,
    finish_graph,
    preprocess_112,
)

if TYPE_CHECKING:
    import onnx


#: HxWx3 uint8 RGB crops -> ``[N, 112, 112, 3]`` float32 batch (centred pad, tfjs bilinear resize).
preprocess = preprocess_112


def relative_positions(raw136: np.ndarray, crop_sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Raw net outputs ``[N, 136]`` -> per crop ``(68, 2)`` float32 positions relative to the crop (0..1).

    This is what face-api.js's ``forward()`` returns (its ``postProcess``): ``scale = 112 / max(W, H)``,
    ``w, h = W*scale, H*scale`` (not rounded), half the size difference as padding on the short axis,
    ``rel = (out * 112 - pad) / (w, h)``, float32 ops in that order.
    """
    raw = np.asarray(raw136, dtype=np.float32).reshape(len(crop_sizes), 68, 2)
    size = np.float32(INPUT_SIZE)
    results = []
    for out, (width, height) in zip(raw, crop_sizes):
        scale = INPUT_SIZE / max(width, height)
        w, h = width * scale, height * scale
        pad_x = abs(w - h) / 2 if w < h else 0.0
        pad_y = abs(w - h) / 2 if h < w else 0.0
        results.append((out * size - np.array([pad_x, pad_y], np.float32)) / np.array([w, h], np.float32))
    return results


def postprocess(raw136: np.ndarray, crop_sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Raw net outputs ``[N, 136]`` -> per crop a ``(68, 2)`` float64 array of (x, y) in crop pixels.

    `crop_sizes` are ``(width, height)`` of each crop; the relative positions (`relative_positions`)
    are scaled by the crop size in float64, as face-api.js's ``FaceLandmarks`` does with JS numbers.
    """
    return [rel.astype(np.float64) * np.array([width, height], np.float64)
            for rel, (width, height) in zip(relative_positions(raw136, crop_sizes), crop_sizes)]


def build_graph(weights: WeightMap) -> onnx.ModelProto:
    """The full net: 4 dense blocks of 4 separable convs (32/64/128/256), fc 256 -> 136 ``landmarks``."""
    g, out = feature_net_graph(weights, "face_landmark_68_model", n_blocks=4, n_convs=4)
    return finish_graph(g, weights, INPUT_SIZE, {"landmarks": out})


def build_tiny_graph(weights: WeightMap) -> onnx.ModelProto:
    """The tiny net: 3 dense blocks of 3 separable convs (32/64/128), fc 128 -> 136 ``landmarks``."""
    g, out = feature_net_graph(weights, "face_landmark_68_tiny_model", n_blocks=3, n_convs=3)
    return finish_graph(g, weights, INPUT_SIZE, {"landmarks": out})


class _LandmarkNet(FaceCropNet[np.ndarray]):
    """`forward` gives the raw ``[N, 136]`` outputs (padded-square relative ``x0, y0, ...``); `predict` 68 (x, y)
    landmark positions per crop, in crop pixels, ``(68, 2)`` float64."""

    preprocess = staticmethod(preprocess)

    def finish(self, outputs: list[np.ndarray], crop_sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        if len(crop_sizes) != len(outputs[0]):  # positions are in crop pixels: `predict_input` needs the sizes
            raise ValueError(f"{len(outputs[0])} landmark outputs for {len(crop_sizes)} crop sizes")
        return postprocess(outputs[0], crop_sizes)


class FaceLandmark68Net(_LandmarkNet):
    """The full landmark net (face-api.js's ``FaceLandmark68Net``)."""


class FaceLandmark68TinyNet(_LandmarkNet):
    """The tiny landmark net (face-api.js's ``FaceLandmark68TinyNet``): faster, less accurate."""


EXPORT: dict[str, Any] = {
    "summary": "68 facial landmarks (iBUG 68 order), full net",
    "input": net_input(INPUT_SIZE),
    "crop": "the face detection box, " + FACE_CROP_NOTE,
    "preprocessing": face_preprocessing(INPUT_SIZE, MEAN_RGB, 255.0),
    "outputs": {"landmarks": "[N, 136] x0, y0, x1, y1, ... relative (0..1) to the padded 112 square"},
    "postprocessing": [
        "crop W x H: scale = 112 / max(W, H), w = W * scale, h = H * scale (not rounded); "
        "pad_x = (h - w)/2 if w < h else 0, pad_y = (w - h)/2 if h < w else 0",
        "relative to the crop: ((x * 112 - pad_x) / w, (y * 112 - pad_y) / h); "
        "crop pixels: times (W, H); image pixels: plus the detection box's (unfloored) x, y",
    ],
}

TINY_EXPORT: dict[str, Any] = {
    **EXPORT,
    "summary": "68 facial landmarks, tiny net (faster, less accurate)",
    "postprocessing": ["as face_landmark_68"],
}

SPEC = FaceLandmark68Net.spec = NetSpec(
    name="face_landmark_68", label="68 landmarks", kind="face", model="face_landmark_68_model",
    input_size=INPUT_SIZE, net_class=FaceLandmark68Net, build_graph=build_graph, export=EXPORT,
    graph_version=GRAPH_VERSION)

TINY_SPEC = FaceLandmark68TinyNet.spec = NetSpec(
    name="face_landmark_68_tiny", label="68 landmarks (tiny)", kind="face", model="face_landmark_68_tiny_model",
    input_size=INPUT_SIZE, net_class=FaceLandmark68TinyNet, build_graph=build_tiny_graph, export=TINY_EXPORT,
    graph_version=GRAPH_VERSION)
