"""SSD MobileNetV1, face-api.js's default face detector (spec sections 4.1 and 5.1).

The ONNX graph holds the network up to the raw box encodings and class-1 logits; box decoding against
the stored anchors (``Output/extra_dim``, also a graph output), the sigmoid, the threshold, NMS and the
conversion to image pixels run in numpy/Python with face-api.js's float32/float64 arithmetic and order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi.engine.geometry import nms_ssd
from faceapi.engine.preprocess import reshaped_dims, to_net_input
from faceapi.errors import ModelError
from faceapi.models.manifest import WeightMap
from faceapi.nets.base import NetSpec, OnnxNet
from faceapi.nets.describe import PAD_BOTTOM_RIGHT, RESIZE, net_input, normalisation
from faceapi.options import SsdMobilenetv1Options
from faceapi.results import Box, Detection

if TYPE_CHECKING:
    import onnx

    from faceapi.engine.graph import GraphBuilder

INPUT_SIZE = 512
NUM_ANCHORS = 5118
#: face-api.js's input scaling: ``x * 0.007843137718737125 - 1``.
INPUT_MULTIPLIER = 0.007843137718737125
BN_EPSILON = 0.0010000000474974513
IOU_THRESHOLD = 0.5

#: Weight-file leftovers of the TF graph that the network code never reads.
UNUSED_PREFIXES = (
    "Preprocessor/",
    "Postprocessor/",
    "concat_1/",
    "Prediction/BoxPredictor_0/stack",
    "Prediction/BoxPredictor_0/strided_slice",
    "Prediction/BoxPredictor_1/stack",
    "Prediction/BoxPredictor_2/stack",
    "Prediction/BoxPredictor_3/stack",
    "Prediction/BoxPredictor_4/stack",
    "Prediction/BoxPredictor_5/stack",
)

_DEPTHWISE_STRIDES = {i: (2 if i in (2, 4, 6, 12) else 1) for i in range(1, 14)}
#: extra layers ``Prediction/Conv2d_j_pointwise``: stride of each (kernel comes from the weights)
_EXTRA_STRIDES = (1, 2, 1, 2, 1, 2, 1, 2)


def preprocess(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """An ``H x W x 3`` RGB image -> (``[1, 512, 512, 3]`` float32 batch, (width, height)).

    Zero-pads bottom/right to a square, then tfjs-``resizeBilinear``s it to 512 (spec 3.2).
    """
    h, w = image.shape[:2]
    return to_net_input(image, INPUT_SIZE, centred=False)[None], (w, h)


def _pointwise(g: GraphBuilder, weights: WeightMap, x: str, prefix: str, stride: int) -> str:
    """``relu6(conv(x, weights, convolution_bn_offset, stride, SAME))``."""
    return g.relu6(g.conv(x, weights[f"{prefix}/weights"], weights[f"{prefix}/convolution_bn_offset"],
                          stride, "SAME", hint=prefix.replace("/", "_")))


def _depthwise_bn(g: GraphBuilder, weights: WeightMap, x: str, i: int) -> str:
    """``relu6(bn(dwconv(x)))`` with the batch norm folded into the depthwise filter and a bias."""
    prefix = f"MobilenetV1/Conv2d_{i}_depthwise"
    filters = weights[f"{prefix}/depthwise_weights"].astype(np.float64)
    gamma = weights[f"{prefix}/BatchNorm/gamma"].astype(np.float64)
    beta = weights[f"{prefix}/BatchNorm/beta"].astype(np.float64)
    mean = weights[f"{prefix}/BatchNorm/moving_mean"].astype(np.float64)
    var = weights[f"{prefix}/BatchNorm/moving_variance"].astype(np.float64)
    scale = gamma / np.sqrt(var + BN_EPSILON)
    folded = (filters * scale[None, None, :, None]).astype(np.float32)
    bias = (beta - mean * scale).astype(np.float32)
    return g.relu6(g.depthwise(x, folded, bias, _DEPTHWISE_STRIDES[i], "SAME", hint=f"dw{i}"))


def _box_predictor(g: GraphBuilder, weights: WeightMap, x: str, k: int) -> tuple[str, str]:
    """Box encodings ``[N, H*W*A, 4]`` and class logits ``[N, H*W*A, 3]`` of one feature map.

    Both 1x1 convs run as one conv (their filters concatenated along the output channels).
    """
    box_w = weights[f"Prediction/BoxPredictor_{k}/BoxEncodingPredictor/weights"]
    box_b = weights[f"Prediction/BoxPredictor_{k}/BoxEncodingPredictor/biases"]
    cls_w = weights[f"Prediction/BoxPredictor_{k}/ClassPredictor/weights"]
    cls_b = weights[f"Prediction/BoxPredictor_{k}/ClassPredictor/biases"]
    n_box = box_w.shape[-1]
    both = g.conv(x, np.concatenate([box_w, cls_w], axis=-1), np.concatenate([box_b, cls_b]), 1, "SAME",
                  hint=f"pred{k}")
    nhwc = g.node("Transpose", [both], perm=[0, 2, 3, 1])
    box_out, cls_out = g.split(nhwc, [n_box, cls_w.shape[-1]], 3, [f"pred{k}_box", f"pred{k}_cls"], f"split{k}")
    boxes = g.node("Reshape", [box_out, g.const(np.array([0, -1, 4], np.int64), "shape")])
    classes = g.node("Reshape", [cls_out, g.const(np.array([0, -1, 3], np.int64), "shape")])
    return boxes, classes


def build_graph(weights: WeightMap) -> onnx.ModelProto:
    """The ONNX graph: NHWC ``[N, 512, 512, 3]`` raw pixels -> ``box_encodings`` ``[N, 5118, 4]``,
    ``class_logits`` ``[N, 5118]`` (class 1, before the sigmoid) and ``anchors`` ``[5118, 4]``."""
    from faceapi.engine.graph import GraphBuilder

    g = GraphBuilder("ssd_mobilenetv1")
    x = g.nhwc_input("input", None, None, multiplier=INPUT_MULTIPLIER, offset=1.0)
    x = _pointwise(g, weights, x, "MobilenetV1/Conv2d_0_pointwise", 2)
    conv11 = x
    for i in range(1, 14):
        x = _depthwise_bn(g, weights, x, i)
        x = _pointwise(g, weights, x, f"MobilenetV1/Conv2d_{i}_pointwise", 1)
        if i == 11:
            conv11 = x
    conv13 = x
    extras = []
    for j, stride in enumerate(_EXTRA_STRIDES):
        x = _pointwise(g, weights, x, f"Prediction/Conv2d_{j}_pointwise", stride)
        extras.append(x)
    feature_maps = [conv11, conv13, extras[1], extras[3], extras[5], extras[7]]
    preds = [_box_predictor(g, weights, fm, k) for k, fm in enumerate(feature_maps)]
    encodings = g.node("Concat", [b for b, _ in preds], axis=1)
    logits = g.node("Concat", [c for _, c in preds], axis=1)
    class1 = g.node("Gather", [logits, g.const(np.array([1], np.int64), "class1")], axis=2)
    class1 = g.node("Reshape", [class1, g.const(np.array([0, -1], np.int64), "shape")])
    anchors = g.constant(weights["Output/extra_dim"].reshape(NUM_ANCHORS, 4).astype(np.float32), "anchors_const")
    unused = weights.unused(UNUSED_PREFIXES)
    if unused:
        raise ModelError(f"{weights.model}: the ssd_mobilenetv1 graph leaves {len(unused)} weight tensors unused "
                         f"(expected every tensor but the TF graph's leftovers to be read): {unused[:5]}")
    return g.build({"input": ["N", INPUT_SIZE, INPUT_SIZE, 3]},
                   {"box_encodings": encodings, "class_logits": class1, "anchors": anchors})


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """face-api.js ``decodeBoxesLayer``: ``[M, 4]`` encodings ``(ty, tx, th, tw)`` against ``[M, 4]``
    anchors ``(ymin, xmin, ymax, xmax)`` -> boxes ``(ymin, xmin, ymax, xmax)``, float32.

    Every tfjs op rounds its result to float32, in this order; ``exp`` is evaluated in float64 (as the
    tfjs CPU backend does) and then rounded.
    """
    f32 = np.float32
    enc = encodings.astype(f32)
    anc = anchors.astype(f32)
    ha = anc[:, 2] - anc[:, 0]
    wa = anc[:, 3] - anc[:, 1]
    yca = anc[:, 0] + ha / f32(2)
    xca = anc[:, 1] + wa / f32(2)

    def exp32(v: np.ndarray) -> np.ndarray:
        return np.exp(v.astype(np.float64)).astype(f32)

    half_h = (exp32(enc[:, 2] / f32(5)) * ha) / f32(2)
    yc = (enc[:, 0] / f32(10)) * ha + yca
    half_w = (exp32(enc[:, 3] / f32(5)) * wa) / f32(2)
    xc = (enc[:, 1] / f32(10)) * wa + xca
    return np.stack([yc - half_h, xc - half_w, yc + half_h, xc + half_w], axis=1)


def sigmoid32(x: np.ndarray) -> np.ndarray:
    """tfjs CPU ``sigmoid``: ``1 / (1 + exp(-x))`` in float64, stored as float32."""
    return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def postprocess(outputs: list[np.ndarray], image_size: tuple[int, int], anchors: np.ndarray,
                options: SsdMobilenetv1Options) -> list[Detection]:
    """Graph outputs of batch item 0 -> detections in image pixels, in NMS selection order (spec 5.1).

    Args:
        outputs: ``[box_encodings [N, 5118, 4], class_logits [N, 5118], ...]``.
        image_size: (width, height) of the original image.
        anchors: ``[5118, 4]`` stored anchors.
        options: threshold and maximum count.
    """
    encodings, logits = outputs[0][0], outputs[1][0]
    boxes = decode_boxes(encodings, anchors)
    scores = sigmoid32(logits)
    keep = nms_ssd(boxes, scores.astype(np.float64), options.max_results, options.min_confidence, IOU_THRESHOLD)
    width, height = image_size
    rw, rh = reshaped_dims(width, height, INPUT_SIZE)
    pad_x = INPUT_SIZE / rw
    pad_y = INPUT_SIZE / rh
    detections = []
    for idx in keep:
        ymin, xmin, ymax, xmax = (float(v) for v in boxes[idx])
        top = max(0.0, ymin) * pad_y
        bottom = min(1.0, ymax) * pad_y
        left = max(0.0, xmin) * pad_x
        right = min(1.0, xmax) * pad_x
        box = Box(left * width, top * height, (right - left) * width, (bottom - top) * height)
        detections.append(Detection(box, float(scores[idx]), width, height))
    return detections


class SsdMobilenetv1(OnnxNet):
    """face-api.js's ``SsdMobilenetv1``: ``detect(image)`` returns the faces in an RGB image."""

    def detect(self, image: np.ndarray,
               options: SsdMobilenetv1Options = SsdMobilenetv1Options()) -> list[Detection]:  # noqa: B008
        """Faces in an ``H x W x 3`` uint8 RGB image, in face-api.js's order (descending score)."""
        batch, size = preprocess(image)
        outputs = self.forward(batch)
        return postprocess(outputs, size, outputs[2], options)


EXPORT: dict[str, Any] = {
    "summary": "SSD MobileNetV1 face detector (face-api.js's default detector)",
    "input": net_input(INPUT_SIZE),
    "preprocessing": {"input_size": INPUT_SIZE, "padding": PAD_BOTTOM_RIGHT, "resize": RESIZE,
                      "normalisation": normalisation("x * 0.007843137718737125 - 1", multiplier=INPUT_MULTIPLIER,
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
    "nms": {"iou_threshold": IOU_THRESHOLD, "default_min_confidence": SsdMobilenetv1Options().min_confidence,
            "default_max_results": SsdMobilenetv1Options().max_results},
    "anchors_file": "ssd_mobilenetv1.anchors.npy",
}

SPEC = SsdMobilenetv1.spec = NetSpec(
    name="ssd_mobilenetv1", label="SSD MobileNet V1", kind="detector", model="ssd_mobilenetv1_model",
    input_size=INPUT_SIZE, net_class=SsdMobilenetv1, build_graph=build_graph, export=EXPORT, graph_version="ssd1")
