"""FaceExpressionNet (spec 4.4): seven expression probabilities from an aligned face crop.

Same FaceFeatureExtractor as FaceLandmark68Net (own weights), then fc 256 -> 7 and softmax.
Labels in output order: neutral, happy, sad, angry, fearful, disgusted, surprised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx

from faceapi.engine.runtime import OnnxNet
from faceapi.models.manifest import WeightMap
from faceapi.nets.feature_extractor import INPUT_SIZE, feature_net_graph, finish_graph, preprocess_112
from faceapi.results import EXPRESSION_LABELS, Expressions


def preprocess(crops: Sequence[np.ndarray]) -> np.ndarray:
    """HxWx3 uint8 RGB crops -> ``[N, 112, 112, 3]`` float32 batch (centred pad, tfjs bilinear resize)."""
    return preprocess_112(list(crops))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float32 (``exp(x - logsumexp(x))`` as tfjs computes it)."""
    x = np.asarray(logits, np.float32)
    m = x.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    return np.exp(x - lse).astype(np.float32)


def postprocess(logits: np.ndarray) -> list[Expressions]:
    """``[N, 7]`` logits -> one `Expressions` (softmax probabilities) per crop."""
    return [Expressions(probabilities=tuple(float(p) for p in row)) for row in softmax(logits)]


class FaceExpressionNet(OnnxNet):
    """Expression classifier; `forward` gives the logits, `predict` the probabilities."""

    model_name = "face_expression_model"
    graph_version = "1"

    @staticmethod
    def build_graph(weights: WeightMap) -> onnx.ModelProto:
        g, logits = feature_net_graph(weights, "face_expression_model", n_blocks=4, n_convs=4)
        return finish_graph(g, weights, INPUT_SIZE, {"logits": logits})

    def forward(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Pre-softmax logits ``[N, 7]``, all crops in one batch."""
        if len(crops) == 0:
            return np.zeros((0, len(EXPRESSION_LABELS)), np.float32)
        return self.run(preprocess(crops))[0]

    def predict(self, crops: Sequence[np.ndarray]) -> list[Expressions]:
        return postprocess(self.forward(crops))
