"""face-api.js's ``FaceFeatureExtractor`` (spec 4.3): densely connected separable-conv blocks.

Shared by FaceLandmark68Net (4 blocks of 4 convs), FaceLandmark68TinyNet (3 blocks of 3 convs) and
FaceExpressionNet (4 blocks of 4 convs, own weights). Every block halves the spatial size.

face-api.js adds a block's conv outputs right-nested (``out1 + (out2 + (out3 + out4))``); we keep one
running sum instead (``((out1 + out2) + out3) + out4``): each addition then fuses into the convolution
that produces its newest term (onnxruntime's NCHWc "sum" fusion), which removes the 20 separate Add
passes that were a fifth of the nets' time (18-24 % faster at batch 1 and 6). The same four terms summed
in another order differ by float32 rounding only: the nets' outputs move by at most 1-4 ulp (measured:
6e-8 on landmarks of about 1, 8e-6 on expression logits of 15-22).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from faceapi.engine.preprocess import batch_net_input
from faceapi.errors import ModelError
from faceapi.models.manifest import WeightMap

if TYPE_CHECKING:
    import onnx

    from faceapi.engine.graph import GraphBuilder

#: Per-channel RGB mean subtracted by every face net before its divisor.
MEAN_RGB = (122.782, 117.001, 104.298)
#: Input side of the feature-extractor nets (and of the age/gender net).
INPUT_SIZE = 112
#: `NetSpec.graph_version` of the three nets built here ("2": running-sum dense blocks).
GRAPH_VERSION = "2"


def preprocess_112(crops: Sequence[np.ndarray]) -> np.ndarray:
    """Centred pad to square + tfjs bilinear resize to 112: the NHWC float32 batch (raw 0..255 values)."""
    return batch_net_input([c[..., :3] for c in crops], INPUT_SIZE, centred=True)


def _sepconv(g: GraphBuilder, x: str, w: WeightMap, prefix: str, stride: int) -> str:
    return g.separable(x, w[f"{prefix}/depthwise_filter"], w[f"{prefix}/pointwise_filter"], w[f"{prefix}/bias"],
                       stride, "SAME", hint=prefix.replace("/", "_"))


def dense_block(g: GraphBuilder, x: str, w: WeightMap, prefix: str, n_convs: int, first: bool) -> str:
    """One dense block of 3 or 4 convs; the first block's conv0 is a regular conv, the others separable.

    Conv i > 0 reads ``relu(out0 + ... + out(i-1))`` (out0 already relu'd); the block gives the relu of
    all its outputs' sum. The sum is kept running (see the module's note on the order)."""
    if first:
        conv0 = g.conv(x, w[f"{prefix}/conv0/filters"], w[f"{prefix}/conv0/bias"], 2, "SAME",
                       hint=f"{prefix}_conv0")
    else:
        conv0 = _sepconv(g, x, w, f"{prefix}/conv0", 2)
    total = g.relu(conv0)
    activated = total
    for i in range(1, n_convs):
        total = g.add(total, _sepconv(g, activated, w, f"{prefix}/conv{i}", 1))
        activated = g.relu(total)
    return activated


def feature_extractor(g: GraphBuilder, x: str, w: WeightMap, n_blocks: int, n_convs: int) -> str:
    """Normalised NCHW input -> flattened ``[N, C]`` bottleneck features (after the average pool)."""
    for b in range(n_blocks):
        x = dense_block(g, x, w, f"dense{b}", n_convs, first=b == 0)
    # 112 / 2**n_blocks spatial; avgPool(k = that size, stride 2, VALID) -> 1x1
    side = INPUT_SIZE >> n_blocks
    return g.flatten(g.avg_pool(x, side, 2))


def feature_net_graph(weights: WeightMap, name: str, n_blocks: int, n_convs: int) -> tuple[GraphBuilder, str]:
    """Graph start shared by the three nets: input, ``(x - mean) / 255``, extractor, fully connected."""
    from faceapi.engine.graph import GraphBuilder

    g = GraphBuilder(name)
    x = g.nhwc_input("input", MEAN_RGB, 255.0)
    feats = feature_extractor(g, x, weights, n_blocks, n_convs)
    out = g.dense(feats, weights["fc/weights"], weights["fc/bias"])
    return g, out


def finish_graph(g: GraphBuilder, weights: WeightMap, size: int, outputs: dict[str, str]) -> onnx.ModelProto:
    """Build the model with a dynamic-batch NHWC input named ``input``; every weight must have been used."""
    unused = weights.unused()
    if unused:
        raise ModelError(f"{weights.model}: the graph leaves {len(unused)} weight tensors unused (expected every "
                         f"tensor to be read; are these the weights of another net?): {unused[:5]}")
    return g.build({"input": ["N", size, size, 3]}, outputs)
