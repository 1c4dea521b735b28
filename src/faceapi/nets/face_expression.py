"""FaceExpressionNet (spec 4.4): seven expression probabilities from an aligned face crop.

Same FaceFeatureExtractor as FaceLandmark68Net (own weights), then fc 256 -> 7 and softmax.
Labels in output order: neutral, happy, sad, angry, fearful, disgusted, surprised.
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
from faceapi.results import EXPRESSION_LABELS, Expressions

if TYPE_CHECKING:
    import onnx


#: HxWx3 uint8 RGB crops -> ``[N, 112, 112, 3]`` float32 batch (centred pad, tfjs bilinear resize).
preprocess = preprocess_112


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float32 (``exp(x - logsumexp(x))`` as tfjs computes it)."""
    x = np.asarray(logits, np.float32)
    m = x.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    probabilities: np.ndarray = np.exp(x - lse).astype(np.float32)
    return probabilities


def postprocess(logits: np.ndarray) -> list[Expressions]:
    """``[N, 7]`` logits -> one `Expressions` (softmax probabilities) per crop."""
    return [Expressions(probabilities=tuple(float(p) for p in row)) for row in softmax(logits)]


def build_graph(weights: WeightMap) -> onnx.ModelProto:
    """The ONNX graph: NHWC ``[N, 112, 112, 3]`` raw pixels -> ``logits`` ``[N, 7]`` (before the softmax)."""
    g, logits = feature_net_graph(weights, "face_expression_model", n_blocks=4, n_convs=4)
    return finish_graph(g, weights, INPUT_SIZE, {"logits": logits})


class FaceExpressionNet(FaceCropNet[Expressions]):
    """Expression classifier; `forward` gives the logits, `predict` the probabilities."""

    preprocess = staticmethod(preprocess)

    def finish(self, outputs: list[np.ndarray], crop_sizes: Sequence[tuple[int, int]]) -> list[Expressions]:
        return postprocess(outputs[0])


EXPORT: dict[str, Any] = {
    "summary": "seven facial expressions",
    "input": net_input(INPUT_SIZE),
    "crop": "the landmark-aligned box (min bbox of the 68 landmarks padded by 20 %), or the detection box "
            "without landmarks; " + FACE_CROP_NOTE,
    "preprocessing": face_preprocessing(INPUT_SIZE, MEAN_RGB, 255.0),
    "outputs": {"logits": "[N, 7] expression logits (before softmax)"},
    "postprocessing": ["probabilities = softmax(logits)", "labels in order: " + ", ".join(EXPRESSION_LABELS)],
    "labels": list(EXPRESSION_LABELS),
}

SPEC = FaceExpressionNet.spec = NetSpec(
    name="face_expression", label="Expressions", kind="face", model="face_expression_model", input_size=INPUT_SIZE,
    net_class=FaceExpressionNet, build_graph=build_graph, export=EXPORT,
    graph_version=GRAPH_VERSION)
