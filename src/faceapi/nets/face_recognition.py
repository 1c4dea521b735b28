"""FaceRecognitionNet (spec 4.5): dlib's ResNet-34-like face descriptor, 150x150 input, 128-d output.

Input: centred pad to square, tfjs bilinear resize to 150, ``(x - mean) / 256``. Each "conv layer" is a
conv + bias followed by a per-channel scale layer (``* scale/weights + scale/biases``, the folded batch
norm); here the scale layer is folded into the conv's filters and bias. The residual-down blocks'
shape fix-ups (channel doubling of the shortcut, zero row/column appended to the conv path) are
static at 150x150 (Appendix B). The descriptor is not L2-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi.engine.preprocess import batch_net_input
from faceapi.models.manifest import WeightMap
from faceapi.nets.base import FaceCropNet, NetSpec
from faceapi.nets.describe import face_preprocessing, net_input
from faceapi.nets.feature_extractor import MEAN_RGB, finish_graph

if TYPE_CHECKING:
    import onnx

    from faceapi.engine.graph import GraphBuilder

INPUT_SIZE = 150
DIVISOR = 256.0
DESCRIPTOR_SIZE = 128


def preprocess(crops: Sequence[np.ndarray]) -> np.ndarray:
    """HxWx3 uint8 RGB crops -> ``[N, 150, 150, 3]`` float32 batch (centred pad, tfjs bilinear resize)."""
    return batch_net_input([c[..., :3] for c in crops], INPUT_SIZE, centred=True)


def _conv_layer(g: GraphBuilder, x: str, w: WeightMap, prefix: str, stride: int, padding: str,
                relu: bool) -> str:
    """``(conv(x) + bias) * scale + shift`` with the scale folded into the conv, then optional relu."""
    filters = w[f"{prefix}/conv/filters"].astype(np.float64)
    bias = w[f"{prefix}/conv/bias"].astype(np.float64)
    scale = w[f"{prefix}/scale/weights"].astype(np.float64)
    shift = w[f"{prefix}/scale/biases"].astype(np.float64)
    out = g.conv(x, (filters * scale).astype(np.float32), (bias * scale + shift).astype(np.float32), stride,
                 padding, hint=prefix.replace("/", "_"))
    return g.relu(out) if relu else out


def _residual(g: GraphBuilder, x: str, w: WeightMap, prefix: str) -> str:
    a = _conv_layer(g, x, w, f"{prefix}/conv1", 1, "SAME", relu=True)
    b = _conv_layer(g, a, w, f"{prefix}/conv2", 1, "SAME", relu=False)
    return g.relu(g.add(b, x))


def _residual_down(g: GraphBuilder, x: str, w: WeightMap, prefix: str, in_side: int, in_ch: int,
                   out_ch: int) -> tuple[str, int]:
    """face-api.js's residual-down block: ``relu(concat([p, zeros]) + pad(b))`` with ``p = avgPool2x2(x)``
    and ``b`` the conv path, given a zero row and column where it comes out one smaller than ``p``.

    Both fix-ups are written as convolutions, so that onnxruntime keeps the whole net in its blocked
    NCHWc layout and fuses the additions into the convolutions (an AveragePool and Pads drop every later
    block back to plain NCHW, with reorders around each convolution): the pool and the channel doubling
    are one 2x2 stride-2 convolution with weights 1/4 from channel ``i`` to channel ``i``; the zero row and
    column are a 1x1 identity convolution padded at the end. Same numbers up to float32 summation order."""
    a = _conv_layer(g, x, w, f"{prefix}/conv1", 2, "VALID", relu=True)
    b = _conv_layer(g, a, w, f"{prefix}/conv2", 1, "SAME", relu=False)
    conv_side = (in_side - 3) // 2 + 1
    pool_side = in_side // 2
    pool = np.zeros((2, 2, in_ch, out_ch), np.float32)  # HWIO
    pool[:, :, np.arange(in_ch), np.arange(in_ch)] = 0.25
    pooled = g.conv(x, pool, None, 2, "VALID", hint=f"{prefix}_pool")
    extra = pool_side - conv_side
    if extra:  # zero rows at the bottom, zero columns at the right of the conv path
        identity = g.const(np.eye(out_ch, dtype=np.float32).reshape(out_ch, out_ch, 1, 1), f"{prefix}_pad_w")
        b = g.node("Conv", [b, identity], f"{prefix}_pad", kernel_shape=[1, 1], pads=[0, 0, extra, extra])
    return g.relu(g.add(pooled, b)), pool_side


def build_graph(weights: WeightMap) -> onnx.ModelProto:
    """The ONNX graph: NHWC ``[N, 150, 150, 3]`` raw pixels -> ``descriptor`` ``[N, 128]``."""
    from faceapi.engine.graph import GraphBuilder

    w = weights
    g = GraphBuilder("face_recognition_model")
    # (x - mean) / 256 stays a Sub and a Div here (not folded into the first conv as in the tiny detector):
    # < 1 % of the time, and the int8 graph quantised after the fold drifted further from float (docs/speed.md)
    x = g.nhwc_input("input", MEAN_RGB, DIVISOR)
    x = _conv_layer(g, x, w, "conv32_down", 2, "VALID", relu=True)  # 72x72x32
    x = g.max_pool(x, 3, 2, "VALID")  # 35x35
    side = 35
    for i in (1, 2, 3):
        x = _residual(g, x, w, f"conv32_{i}")
    x, side = _residual_down(g, x, w, "conv64_down", side, 32, 64)  # 17
    for i in (1, 2, 3):
        x = _residual(g, x, w, f"conv64_{i}")
    x, side = _residual_down(g, x, w, "conv128_down", side, 64, 128)  # 8
    for i in (1, 2):
        x = _residual(g, x, w, f"conv128_{i}")
    x, side = _residual_down(g, x, w, "conv256_down", side, 128, 256)  # 4
    for i in (1, 2):
        x = _residual(g, x, w, f"conv256_{i}")
    x, side = _residual_down(g, x, w, "conv256_down_out", side, 256, 256)  # 2
    pooled = g.flatten(g.node("GlobalAveragePool", [x]))
    descriptor = g.dense(pooled, w["fc"], None)
    return finish_graph(g, weights, INPUT_SIZE, {"descriptor": descriptor})


class FaceRecognitionNet(FaceCropNet[np.ndarray]):
    """128-d face descriptors (compare with Euclidean distance, threshold 0.6); `forward` gives them raw,
    `predict` one 128-d float32 descriptor per crop."""

    preprocess = staticmethod(preprocess)

    def finish(self, outputs: list[np.ndarray], crop_sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        return list(outputs[0])


EXPORT: dict[str, Any] = {
    "summary": "128-d face descriptor (dlib ResNet-34-like); compare with Euclidean distance",
    "input": net_input(INPUT_SIZE),
    "crop": "the dlib-style square from the landmarks: eye centres (36-41, 42-47) and mouth centre (48-67), "
            "size = floor(mean distance eye->mouth / 0.45), origin floor(max(0, centroid - (0.5, 0.43) * size))",
    "preprocessing": face_preprocessing(INPUT_SIZE, MEAN_RGB, DIVISOR),
    "outputs": {"descriptor": "[N, 128] descriptor, not L2-normalised"},
    "postprocessing": ["same person when the Euclidean distance between descriptors is below 0.6"],
}

SPEC = FaceRecognitionNet.spec = NetSpec(
    name="face_recognition", label="Recognition (descriptors)", kind="face", model="face_recognition_model",
    input_size=INPUT_SIZE, net_class=FaceRecognitionNet, build_graph=build_graph, export=EXPORT, graph_version="3")
