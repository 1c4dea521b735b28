"""AgeGenderNet (spec 4.6): TinyXception (2 middle blocks) + an age regressor and a gender softmax.

Input 112, centred padding, ``(x - mean) / 256``. Gender index 0 is male, 1 female.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi.models.manifest import WeightMap
from faceapi.nets.base import FaceCropNet, NetSpec
from faceapi.nets.describe import FACE_CROP_NOTE, face_preprocessing, net_input
from faceapi.nets.feature_extractor import INPUT_SIZE, MEAN_RGB, finish_graph, preprocess_112
from faceapi.results import AgeGender

if TYPE_CHECKING:
    import onnx

    from faceapi.engine.graph import GraphBuilder


#: HxWx3 uint8 RGB crops -> ``[N, 112, 112, 3]`` float32 batch (centred pad, tfjs bilinear resize).
preprocess = preprocess_112


def postprocess(age: np.ndarray, gender: np.ndarray) -> list[AgeGender]:
    """``age [N]`` and ``gender softmax [N, 2]`` -> `AgeGender` per crop (male iff p_male > 0.5)."""
    results = []
    for a, (p_male, _p_female) in zip(np.asarray(age), np.asarray(gender)):
        p_male = float(p_male)
        male = p_male > 0.5
        results.append(AgeGender(age=float(a), gender="male" if male else "female",
                                 gender_probability=p_male if male else 1 - p_male))
    return results


def _sep(g: GraphBuilder, x: str, w: WeightMap, prefix: str) -> str:
    return g.separable(x, w[f"{prefix}/depthwise_filter"], w[f"{prefix}/pointwise_filter"], w[f"{prefix}/bias"],
                       1, "SAME", hint=prefix.replace("/", "_"))


def _reduction_block(g: GraphBuilder, x: str, w: WeightMap, prefix: str, activate: bool) -> str:
    o = g.relu(x) if activate else x
    o = _sep(g, o, w, f"{prefix}/separable_conv0")
    o = _sep(g, g.relu(o), w, f"{prefix}/separable_conv1")
    o = g.max_pool(o, 3, 2, "SAME")
    shortcut = g.conv(x, w[f"{prefix}/expansion_conv/filters"], w[f"{prefix}/expansion_conv/bias"], 2, "SAME",
                      hint=f"{prefix}_expansion".replace("/", "_"))
    return g.add(o, shortcut)


def _main_block(g: GraphBuilder, x: str, w: WeightMap, prefix: str) -> str:
    o = _sep(g, g.relu(x), w, f"{prefix}/separable_conv0")
    o = _sep(g, g.relu(o), w, f"{prefix}/separable_conv1")
    o = _sep(g, g.relu(o), w, f"{prefix}/separable_conv2")
    return g.add(o, x)


def build_graph(weights: WeightMap) -> onnx.ModelProto:
    """The ONNX graph: NHWC ``[N, 112, 112, 3]`` raw pixels -> ``age`` ``[N]``, ``gender`` softmax ``[N, 2]``."""
    from faceapi.engine.graph import GraphBuilder

    w = weights
    g = GraphBuilder("age_gender_model")
    x = g.nhwc_input("input", MEAN_RGB, 256.0)
    x = g.relu(g.conv(x, w["entry_flow/conv_in/filters"], w["entry_flow/conv_in/bias"], 2, "SAME",
                      hint="conv_in"))
    x = _reduction_block(g, x, w, "entry_flow/reduction_block_0", activate=False)
    x = _reduction_block(g, x, w, "entry_flow/reduction_block_1", activate=True)
    x = _main_block(g, x, w, "middle_flow/main_block_0")
    x = _main_block(g, x, w, "middle_flow/main_block_1")
    x = _reduction_block(g, x, w, "exit_flow/reduction_block", activate=True)
    x = g.relu(_sep(g, x, w, "exit_flow/separable_conv"))
    pooled = g.flatten(g.avg_pool(x, 7, 2))
    age = g.dense(pooled, w["fc/age/weights"], w["fc/age/bias"])
    age = g.node("Reshape", [age, g.const(np.array([-1], np.int64), "shape")])  # [N, 1] -> [N]
    gender = g.softmax(g.dense(pooled, w["fc/gender/weights"], w["fc/gender/bias"]))
    return finish_graph(g, weights, INPUT_SIZE, {"age": age, "gender": gender})


class AgeGenderNet(FaceCropNet[AgeGender]):
    """Age (years, unrounded) and gender; `forward` gives ``[age [N], gender softmax [N, 2]]``."""

    preprocess = staticmethod(preprocess)

    def finish(self, outputs: list[np.ndarray], crop_sizes: Sequence[tuple[int, int]]) -> list[AgeGender]:
        age, gender = outputs
        return postprocess(age, gender)


EXPORT: dict[str, Any] = {
    "summary": "age (years) and gender",
    "input": net_input(INPUT_SIZE),
    "crop": "the landmark-aligned box (min bbox of the 68 landmarks padded by 20 %), or the detection box "
            "without landmarks; " + FACE_CROP_NOTE,
    "preprocessing": face_preprocessing(INPUT_SIZE, MEAN_RGB, 256.0),
    "outputs": {"age": "[N] age in years (unrounded regression)",
                "gender": "[N, 2] softmax probabilities: index 0 male, 1 female"},
    "postprocessing": ["gender = male if gender[0] > 0.5 else female; its probability is the larger one"],
}

SPEC = AgeGenderNet.spec = NetSpec(
    name="age_gender", label="Age & gender", kind="face", model="age_gender_model", input_size=INPUT_SIZE,
    net_class=AgeGenderNet, build_graph=build_graph, export=EXPORT)
