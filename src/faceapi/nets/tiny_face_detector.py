"""Tiny Face Detector, face-api.js's small and fast detector (spec sections 4.2 and 5.2).

The ONNX graph takes any input side that is a multiple of 32 and returns the raw ``[N, n, n, 25]``
grid (n = side / 32); decoding, threshold and NMS run in Python in float64 like face-api.js's JavaScript.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi.engine.geometry import TINY_IOU_THRESHOLD, nms_tiny
from faceapi.engine.preprocess import reshaped_dims, to_net_input
from faceapi.errors import ModelError
from faceapi.models.manifest import WeightMap
from faceapi.nets.base import NetSpec, OnnxNet
from faceapi.nets.describe import PAD_BOTTOM_RIGHT, RESIZE, net_input, normalisation
from faceapi.options import TinyFaceDetectorOptions
from faceapi.results import Box, Detection

if TYPE_CHECKING:
    import onnx

MEAN_RGB = (117.001, 114.697, 97.404)
DIVISOR = 256.0
#: anchors (width, height) in grid cells
ANCHORS = (
    (1.603231, 2.094468),
    (6.041143, 7.080126),
    (2.882459, 3.518061),
    (4.266906, 5.178857),
    (9.041765, 10.66308),
)
BOX_ENCODING_SIZE = 5


def preprocess(image: np.ndarray, input_size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """An ``H x W x 3`` RGB image -> (``[1, S, S, 3]`` float32 batch, (width, height)); pads bottom/right."""
    h, w = image.shape[:2]
    return to_net_input(image, input_size, centred=False)[None], (w, h)


def build_graph(weights: WeightMap) -> onnx.ModelProto:
    """The ONNX graph: NHWC ``[N, S, S, 3]`` raw pixels (S a multiple of 32) -> ``grid`` ``[N, S/32, S/32, 25]``."""
    from faceapi.engine.graph import GraphBuilder

    g = GraphBuilder("tiny_face_detector")
    # (x - mean) / 256 is folded into conv0 (VALID, so no padding stands for raw zeros)
    x = g.leaky(g.normalising_conv(g.nchw("input"), weights["conv0/filters"], weights["conv0/bias"], MEAN_RGB, DIVISOR,
                                   1, hint="conv0"))
    for i in range(1, 6):
        x = g.max_pool(x, 2, 2, "SAME")
        # face-api.js pads 1 px of zeros and uses VALID: for a 3x3 stride-1 conv that is SAME
        x = g.leaky(g.separable(x, weights[f"conv{i}/depthwise_filter"], weights[f"conv{i}/pointwise_filter"],
                                weights[f"conv{i}/bias"], 1, "SAME", hint=f"conv{i}"))
    x = g.max_pool(x, 2, 1, "SAME")  # stride 1: pad 0 before, 1 after (SAME_UPPER)
    x = g.conv(x, weights["conv8/filters"], weights["conv8/bias"], 1, "VALID", hint="conv8")
    grid = g.node("Transpose", [x], perm=[0, 2, 3, 1])
    unused = weights.unused()
    if unused:
        raise ModelError(f"{weights.model}: the tiny_face_detector graph leaves {len(unused)} weight tensors "
                         f"unused (expected every tensor to be read): {unused[:5]}")
    return g.build({"input": ["N", "H", "W", 3]}, {"grid": grid})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """JavaScript ``1 / (1 + Math.exp(-x))`` in float64."""
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    return out


def postprocess(grid: np.ndarray, image_size: tuple[int, int], input_size: int,
                score_threshold: float) -> list[Detection]:
    """``[n, n, 25]`` net output of one image -> detections in image pixels, in NMS pop order.

    Decoding (spec 4.2) in float64 in face-api.js's order, threshold ``score > score_threshold``, NMS with
    IoU ``> 0.4`` on relative boxes times `input_size` (spec 5.2). Boxes are not clipped.
    """
    width, height = image_size
    n = grid.shape[0]
    cells = grid.reshape(n, n, len(ANCHORS), BOX_ENCODING_SIZE).astype(np.float64)
    scores = _sigmoid(cells[..., 4])
    rw, rh = reshaped_dims(width, height, input_size)
    side = max(rw, rh)
    cfx = side / rw
    cfy = side / rh
    rows, cols, anchors = np.nonzero(scores > score_threshold)  # row, col, anchor order
    boxes: list[tuple[float, float, float, float]] = []
    kept_scores: list[float] = []
    for row, col, a in zip(rows.tolist(), cols.tolist(), anchors.tolist()):
        tx, ty, tw, th = (float(v) for v in cells[row, col, a, :4])
        aw, ah = ANCHORS[a]
        ct_x = ((col + 1.0 / (1.0 + math.exp(-tx))) / n) * cfx
        ct_y = ((row + 1.0 / (1.0 + math.exp(-ty))) / n) * cfy
        w = ((math.exp(tw) * aw) / n) * cfx
        h = ((math.exp(th) * ah) / n) * cfy
        x = ct_x - w / 2
        y = ct_y - h / 2
        # BoundingBox(x, y, x + w, y + h): face-api.js keeps right - left as the width
        boxes.append((x, y, (x + w) - x, (y + h) - y))
        kept_scores.append(float(scores[row, col, a]))
    scaled = [(x * input_size, y * input_size, w * input_size, h * input_size) for x, y, w, h in boxes]
    keep = nms_tiny(scaled, kept_scores, TINY_IOU_THRESHOLD)
    detections = []
    for idx in keep:
        x, y, w, h = boxes[idx]
        # ObjectDetection: relative box * image dims; FaceDetection: that box * (1/W, 1/H) * (W, H)
        px = Box(x * width, y * height, w * width, h * height)
        rel = px.scaled(1 / width, 1 / height)
        detections.append(Detection(rel.scaled(width, height), kept_scores[idx], width, height))
    return detections


class TinyFaceDetector(OnnxNet):
    """face-api.js's ``TinyFaceDetector``: ``detect(image, options)`` returns the faces in an RGB image."""

    def detect(self, image: np.ndarray,
               options: TinyFaceDetectorOptions = TinyFaceDetectorOptions()) -> list[Detection]:  # noqa: B008
        """Faces in an ``H x W x 3`` uint8 RGB image, in face-api.js's order (NMS pop order)."""
        batch, size = preprocess(image, options.input_size)
        grid = self.forward(batch)[0]
        return postprocess(grid[0], size, options.input_size, options.score_threshold)


EXPORT: dict[str, Any] = {
    "summary": "Tiny Face Detector (Tiny YOLO v2 with separable convolutions), fast and small",
    "input": net_input("S"),
    "preprocessing": {"input_size": "S: any multiple of 32 (face-api.js default 416; 128..608 typical)",
                      "padding": PAD_BOTTOM_RIGHT, "resize": RESIZE,
                      "normalisation": normalisation("(x - mean) / 256", mean_rgb=list(MEAN_RGB), divisor=DIVISOR)},
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
    "nms": {"iou_threshold": TINY_IOU_THRESHOLD,
            "default_score_threshold": TinyFaceDetectorOptions().score_threshold},
    "anchors": [list(a) for a in ANCHORS],
}

SPEC = TinyFaceDetector.spec = NetSpec(
    name="tiny_face_detector", label="Tiny Face Detector", kind="detector", model="tiny_face_detector_model",
    input_size=None, net_class=TinyFaceDetector, build_graph=build_graph, export=EXPORT, graph_version="tiny2")
