"""FaceExpressionNet with its 256-d pooled features as a second output, for the expression models that
read them (`faceapi.expression_models`).

The same weights and the same graph as `faceapi.nets.face_expression` up to the logits (which are
therefore face-api.js's numbers: the tests compare them); the pooled features that feed the last fully
connected layer are one more graph output. It is a net of its own (its own cached graph, ``graph_version``
"2+features") so that the default expression net, the parity net, is not touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from faceapi.models.manifest import WeightMap
from faceapi.nets import face_expression
from faceapi.nets.base import NetSpec, OnnxNet
from faceapi.nets.feature_extractor import GRAPH_VERSION, INPUT_SIZE, MEAN_RGB, feature_extractor, finish_graph

if TYPE_CHECKING:
    import onnx

#: Width of the pooled features (the input of the expression net's last fully connected layer).
FEATURES = 256


def build_graph(weights: WeightMap) -> onnx.ModelProto:
    """NHWC ``[N, 112, 112, 3]`` raw pixels -> ``logits`` ``[N, 7]`` and ``features`` ``[N, 256]``."""
    from faceapi.engine.graph import GraphBuilder

    g = GraphBuilder("face_expression_model")
    x = g.nhwc_input("input", MEAN_RGB, 255.0)
    feats = feature_extractor(g, x, weights, n_blocks=4, n_convs=4)
    logits = g.dense(feats, weights["fc/weights"], weights["fc/bias"])
    return finish_graph(g, weights, INPUT_SIZE, {"logits": logits, "features": feats})


class FaceExpressionFeatureNet(OnnxNet):
    """`forward` gives ``[logits, features]``; `logits_and_features` preprocesses crops first."""

    @staticmethod
    def preprocess(crops: Sequence[np.ndarray]) -> np.ndarray:
        return face_expression.preprocess(crops)

    def logits_and_features(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An already preprocessed batch -> (``[N, 7]`` logits, ``[N, 256]`` features), float32."""
        if len(batch) == 0:
            return np.zeros((0, 7), np.float32), np.zeros((0, FEATURES), np.float32)
        logits, feats = self.forward(batch)
        return logits, feats


SPEC = FaceExpressionFeatureNet.spec = NetSpec(
    name="face_expression", label="Expressions (with pooled features)", kind="face",
    model="face_expression_model", input_size=INPUT_SIZE, net_class=FaceExpressionFeatureNet,
    build_graph=build_graph, export=face_expression.EXPORT, graph_version=GRAPH_VERSION + "+features")

__all__ = ["FEATURES", "FaceExpressionFeatureNet", "SPEC"]
