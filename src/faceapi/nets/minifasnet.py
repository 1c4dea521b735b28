"""MiniFASNetV2 and MiniFASNetV1SE (Minivision's Silent-Face-Anti-Spoofing): is a face live or a photo?

Two small nets (80x80 input, 3 classes, class 1 = a live face) that see the face at two scales: the
detection box grown 2.7x (V2) and 4.0x (V1SE) around its centre, so that they see the face's surroundings
(a print's edge, its paper). Upstream's rule, kept here exactly:

* the box is upstream's ``[x, y, w, h]`` in whole pixels (``int(left)``, ``int(top)``,
  ``int(right - left + 1)``, ``int(bottom - top + 1)``), grown by the scale (capped so that the crop fits
  the image), shifted back inside the image, cut out (``[top, bottom]`` and ``[left, right]`` inclusive)
  and resized to 80x80 with OpenCV's ``INTER_LINEAR`` rule (half-pixel centres, no anti-aliasing; values
  rounded to uint8, which OpenCV's fixed-point arithmetic may put 1 level off: `resize_linear`);
* raw BGR values 0..255 (upstream's ``to_tensor`` does not divide); our graphs take RGB and read it as
  BGR by reversing the first convolution's input channels (the same sums, in another order);
* each net's softmax; the two summed and halved: ``score = (p1_v2 + p1_v1se) / 2`` is the probability of
  a live face (`liveness_score`).

The graphs are built from the state dicts (read without PyTorch: `faceapi.models.pth`) with every batch
norm folded into the convolution before it. tests/liveness/test_parity.py runs upstream's own PyTorch
definition on fixed inputs and compares the logits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceapi.errors import ModelError
from faceapi.models.manifest import WeightMap
from faceapi.models.registry import LIVENESS_MODELS
from faceapi.models.store import LoadedWeights, model_dir, sha256_file
from faceapi.nets.base import NetSpec, OnnxNet
from faceapi.results import Box

if TYPE_CHECKING:
    import onnx

    from faceapi.engine.graph import GraphBuilder

#: Side of both nets' input.
INPUT_SIZE = 80
#: Index of the "live face" class in the nets' three outputs (0 and 2 are two kinds of spoof).
LIVE_CLASS = 1
#: Batch norm epsilon (PyTorch's default, upstream's nets use it).
BN_EPS = 1e-5
#: Where the shipped weights are (with their licence).
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models" / "minifasnet"
#: A folder with the two ``.pth`` files, used instead of the shipped copy (verified the same way).
ENV_VAR = "FACEAPI_MINIFASNET"


# -- pre-processing (pure numpy) ------------------------------------------------------------------------
def upstream_bbox(box: Box) -> tuple[int, int, int, int]:
    """A detection box as upstream's detector gives it: ``[int(left), int(top), int(w + 1), int(h + 1)]``."""
    left, top, right, bottom = box.x, box.y, box.right, box.bottom
    return int(left), int(top), int(right - left + 1), int(bottom - top + 1)


def scaled_box(src_w: int, src_h: int, bbox: tuple[int, int, int, int], scale: float) -> tuple[int, int, int, int]:
    """Upstream's ``CropImage._get_new_box``: the box grown `scale` times around its centre (less when that
    would not fit the image), moved back inside it; ``(left, top, right, bottom)``, inclusive."""
    x, y, box_w, box_h = bbox
    box_w, box_h = max(box_w, 1), max(box_h, 1)
    scale = min((src_h - 1) / box_h, min((src_w - 1) / box_w, scale))
    new_w, new_h = box_w * scale, box_h * scale
    cx, cy = box_w / 2 + x, box_h / 2 + y
    left, top = cx - new_w / 2, cy - new_h / 2
    right, bottom = cx + new_w / 2, cy + new_h / 2
    if left < 0:
        right -= left
        left = 0
    if top < 0:
        bottom -= top
        top = 0
    if right > src_w - 1:
        left -= right - src_w + 1
        right = src_w - 1
    if bottom > src_h - 1:
        top -= bottom - src_h + 1
        bottom = src_h - 1
    return int(left), int(top), int(right), int(bottom)


def _linear_axis(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV INTER_LINEAR along one axis: for each output index the two source indices and the weight of
    the second (``f = (d + 0.5) * src / dst - 0.5``; clamped at both ends as OpenCV does)."""
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5).astype(np.float32).astype(np.float64)
    i0 = np.floor(f).astype(np.intp)
    w = f - i0
    low = i0 < 0
    i0[low], w[low] = 0, 0.0
    high = i0 >= src - 1
    i0[high], w[high] = src - 1, 0.0
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, w


def resize_linear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``cv2.resize(image, (width, height))`` (INTER_LINEAR) of an ``H x W x C`` uint8 image: horizontal
    then vertical interpolation as OpenCV, in float32, rounded to uint8. OpenCV itself uses 11-bit
    fixed-point weights, so a value may differ from its by 1 level. Only the 2 x 2 source pixels of each
    output are read (gathered first), not the whole region."""
    h, w = image.shape[:2]
    y0, y1, wy = _linear_axis(h, height)
    x0, x1, wx = _linear_axis(w, width)
    upper, lower = image[y0], image[y1]
    fx = wx.astype(np.float32)[None, :, None]
    fy = wy.astype(np.float32)[:, None, None]
    top = upper[:, x0] * (1 - fx) + upper[:, x1] * fx
    bottom = lower[:, x0] * (1 - fx) + lower[:, x1] * fx
    out = top * (1 - fy) + bottom * fy
    rounded: np.ndarray = np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
    return rounded


def patch(image: np.ndarray, box: Box, scale: float) -> np.ndarray:
    """The ``80 x 80 x 3`` uint8 RGB input of a net: upstream's crop of `image` (RGB, ``H x W x 3``) around
    the detection `box`, grown `scale` times, resized (`resize_linear`)."""
    h, w = image.shape[:2]
    left, top, right, bottom = scaled_box(w, h, upstream_bbox(box), scale)
    left, top = max(left, 0), max(top, 0)
    region = image[top : bottom + 1, left : right + 1, :3]
    if region.size == 0:
        region = image[:1, :1, :3]
    return resize_linear(region, INPUT_SIZE, INPUT_SIZE)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (float64, as upstream's torch softmax up to float32 rounding)."""
    x = np.asarray(logits, np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def liveness_score(probabilities: Sequence[np.ndarray]) -> np.ndarray:
    """Upstream's combination: the nets' softmax outputs summed, the live class's share (``sum / n``): ``[N]``."""
    total = np.sum([np.asarray(p, np.float64) for p in probabilities], axis=0)
    out: np.ndarray = total[..., LIVE_CLASS] / len(probabilities)
    return out


# -- the graph ------------------------------------------------------------------------------------------
#: Channel counts are padded with zeros to a multiple of this (AVX2's 8 floats): upstream's pruned nets have
#: counts like 103 or 231, and onnxruntime's blocked (NCHWc) convolutions take only multiples of its
#: block, so each such layer fell back to plain NCHW between two layout conversions.
CHANNEL_BLOCK = 8


def padded(channels: int) -> int:
    """`channels` rounded up to a multiple of `CHANNEL_BLOCK`."""
    return -(-channels // CHANNEL_BLOCK) * CHANNEL_BLOCK


def _pad(values: np.ndarray) -> np.ndarray:
    """A per-channel vector padded with zeros to `padded` length."""
    out = np.zeros(padded(values.shape[0]), values.dtype)
    out[: values.shape[0]] = values
    return out


class _Builder:
    """The MiniFASNet blocks on a `GraphBuilder`, batch norms folded into the convolutions before them."""

    def __init__(self, g: GraphBuilder, w: WeightMap):
        self.g = g
        self.w = w

    def _bn(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """A batch norm as ``y = x * scale + shift`` (float64)."""
        gamma = self.w[f"{prefix}.weight"].astype(np.float64)
        beta = self.w[f"{prefix}.bias"].astype(np.float64)
        mean = self.w[f"{prefix}.running_mean"].astype(np.float64)
        var = self.w[f"{prefix}.running_var"].astype(np.float64)
        scale = gamma / np.sqrt(var + BN_EPS)
        return scale, beta - mean * scale

    def conv_bn(self, x: str, prefix: str, stride: int, pad: int, conv: str = "conv", bn: str = "bn",
                reverse_input: bool = False, out_scale: np.ndarray | None = None) -> str:
        """``bn(conv(x))`` as one Conv (OIHW weights, symmetric padding like PyTorch's), its channels padded
        with zeros to a multiple of `CHANNEL_BLOCK` (`padded`), each output channel times `out_scale` when
        given; `reverse_input` marks the first convolution, which reads the image's three channels
        (unpadded)."""
        weight = self.w[f"{prefix}.{conv}.weight"].astype(np.float64)
        if reverse_input:  # the graph gets RGB, the net was trained on BGR
            weight = weight[:, ::-1]
        scale, shift = self._bn(f"{prefix}.{bn}")
        if out_scale is not None:
            scale, shift = scale * out_scale, shift * out_scale
        out_c, in_per_group, kh, kw = weight.shape
        depthwise = in_per_group == 1  # (no other conv here has one input channel)
        out_p = padded(out_c)
        in_p = 1 if depthwise else in_per_group if reverse_input else padded(in_per_group)
        w_full = np.zeros((out_p, in_p, kh, kw))
        w_full[:out_c, :in_per_group] = weight * scale[:, None, None, None]
        b_full = np.zeros(out_p)
        b_full[:out_c] = shift
        g = self.g
        hint = prefix.replace(".", "_")
        return g.node("Conv", [x, g.const(w_full.astype(np.float32), hint + "_w"),
                               g.const(b_full.astype(np.float32), hint + "_b")], hint,
                      kernel_shape=[kh, kw], strides=[stride, stride], pads=[pad, pad, pad, pad],
                      group=out_p if depthwise else 1)

    def conv_block(self, x: str, prefix: str, stride: int, pad: int, reverse_input: bool = False) -> str:
        """Upstream's ``Conv_block``: conv, batch norm, PReLU.

        PReLU(y) is computed as ``relu(y') + (slope / (1 - slope)) * y'`` of ``y' = (1 - slope) * y``, the
        factor folded into the convolution (every slope of these nets is under 1, so ``1 - slope > 0``
        passes through the relu), the second term a 1x1 depthwise convolution into which onnxruntime fuses
        the sum: the whole net stays in its blocked (NCHWc) layout. onnxruntime's own PRelu kernel (4.8 ns
        per element here) was half of the nets' time, and ``relu(y) + slope * min(y, 0)`` (Min and a
        broadcast Mul are not NCHWc ops) cost two layout conversions per PReLU; benchmarks/bench_liveness.py.
        Equal to PReLU up to float32 rounding (a few ulp)."""
        slope = self.w[f"{prefix}.prelu.weight"].astype(np.float64)
        if np.any(slope >= 1):
            raise ModelError(f"{self.w.model}: {prefix} has a PReLU slope >= 1, which this graph cannot fold")
        y = self.conv_bn(x, prefix, stride, pad, reverse_input=reverse_input, out_scale=1 - slope)
        g = self.g
        hint = prefix.replace(".", "_")
        channels = padded(slope.shape[0])
        ratio = g.const(_pad(slope / (1 - slope)).astype(np.float32).reshape(channels, 1, 1, 1), hint + "_ratio")
        zero = g.const(np.zeros(channels, np.float32), hint + "_zero")
        negative = g.node("Conv", [y, ratio, zero], hint + "_neg", kernel_shape=[1, 1], group=channels)
        return g.add(negative, g.relu(y))

    def depth_wise(self, x: str, prefix: str, stride: int, residual: bool) -> str:
        """``Depth_Wise`` (and ``Depth_Wise_SE`` when the weights have an SE module): 1x1 expand, 3x3
        depthwise, 1x1 project, squeeze-and-excitation, residual."""
        out = self.conv_block(x, f"{prefix}.conv", 1, 0)
        out = self.conv_block(out, f"{prefix}.conv_dw", stride, 1)
        out = self.conv_bn(out, f"{prefix}.project", 1, 0)
        if f"{prefix}.se_module.fc1.weight" in self.w:
            out = self.se(out, f"{prefix}.se_module")
        return self.g.add(x, out) if residual else out

    def se(self, x: str, prefix: str) -> str:
        g = self.g
        s = g.node("GlobalAveragePool", [x])
        s = g.relu(self.conv_bn(s, prefix, 1, 0, conv="fc1", bn="bn1"))
        s = g.node("Sigmoid", [self.conv_bn(s, prefix, 1, 0, conv="fc2", bn="bn2")])
        return g.mul(x, s)

    def residual(self, x: str, prefix: str) -> str:
        i = 0
        while f"{prefix}.model.{i}.conv.conv.weight" in self.w:
            x = self.depth_wise(x, f"{prefix}.model.{i}", 1, residual=True)
            i += 1
        return x


def state_dict_weights(tensors: dict[str, np.ndarray], model: str) -> WeightMap:
    """Upstream's state dict as a `WeightMap`: the ``module.`` prefix (DataParallel's) dropped, and the
    batch norms' ``num_batches_tracked`` counters (training bookkeeping) left out."""
    clean = {k.removeprefix("module."): v for k, v in tensors.items() if not k.endswith("num_batches_tracked")}
    return WeightMap(clean, model)


def build_graph(weights: WeightMap) -> onnx.ModelProto:
    """The ONNX graph: NHWC ``[N, 80, 80, 3]`` raw RGB pixels 0..255 -> ``logits`` ``[N, 3]`` (class 1 live)."""
    from faceapi.engine.graph import GraphBuilder

    g = GraphBuilder(weights.model)
    b = _Builder(g, weights)
    x = g.nchw("input")
    x = b.conv_block(x, "conv1", 2, 1, reverse_input=True)
    x = b.conv_block(x, "conv2_dw", 1, 1)
    x = b.depth_wise(x, "conv_23", 2, residual=False)
    x = b.residual(x, "conv_3")
    x = b.depth_wise(x, "conv_34", 2, residual=False)
    x = b.residual(x, "conv_4")
    x = b.depth_wise(x, "conv_45", 2, residual=False)
    x = b.residual(x, "conv_5")
    x = b.conv_block(x, "conv_6_sep", 1, 0)
    x = b.conv_bn(x, "conv_6_dw", 1, 0)  # a 5x5 depthwise over the 5x5 map: one value per channel
    x = g.flatten(x)
    # linear (no bias) then BatchNorm1d, folded into one Gemm; dropout is off at inference
    lin = weights["linear.weight"].astype(np.float64)  # [128, 512]
    scale, shift = b._bn("bn")
    folded = np.zeros((padded(lin.shape[1]), lin.shape[0]))  # the flattened features' padding reads nothing
    folded[: lin.shape[1]] = (lin * scale[:, None]).T
    x = g.dense(x, folded, shift)
    logits = g.dense(x, weights["prob.weight"].astype(np.float64).T, None)
    unused = weights.unused()
    if unused:
        raise ModelError(f"{weights.model}: the graph leaves {len(unused)} weight tensors unused "
                         f"(are these the weights of another net?): {unused[:5]}")
    return g.build({"input": ["N", INPUT_SIZE, INPUT_SIZE, 3]}, {"logits": logits})


# -- weights --------------------------------------------------------------------------------------------
def weights_file(model: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """The verified ``.pth`` file of `model`: from `folder` (or ``$FACEAPI_MINIFASNET``) when given, else the
    copy shipped with faceapi.

    Raises:
        ModelNotFoundError / ModelError: not there, or not the pinned file (SHA-256).
    """
    from faceapi.errors import ModelNotFoundError

    files = LIVENESS_MODELS[model]
    root = Path(folder).expanduser() if folder is not None else Path(os.environ.get(ENV_VAR) or SHIPPED_DIR)
    path = root / files.file
    if not path.is_file():
        raise ModelNotFoundError(f"liveness model {model!r}: {files.file} not found in {root} (faceapi ships it "
                                 f"in {SHIPPED_DIR}; ${ENV_VAR} may name another folder with it)")
    if sha256_file(path) != files.sha256:
        raise ModelError(f"liveness model {model!r}: {path} does not match its pinned SHA-256 (corrupt or a "
                         f"different version)")
    return path


def load_liveness_weights(model: str, models_dir: str | os.PathLike[str] | None = None) -> LoadedWeights:
    """The verified state dict of `model` as a `LoadedWeights` (graphs cached in the model folder)."""
    from faceapi.models.pth import read_state_dict

    path = weights_file(model)
    tensors = read_state_dict(path)
    return LoadedWeights(state_dict_weights(tensors, model), LIVENESS_MODELS[model].sha256[:16],
                         model_dir(models_dir))


class MiniFASNet(OnnxNet):
    """One liveness net; `predict` takes whole RGB images and their face boxes and gives ``[N, 3]`` softmax
    probabilities (class 1 live). `scale` is the net's crop rule."""

    scale: float

    @classmethod
    def load_weights(cls, models_dir: str | os.PathLike[str] | None) -> LoadedWeights:
        return load_liveness_weights(cls.spec.model, models_dir)

    def preprocess_faces(self, image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """The NHWC float32 batch for the faces `boxes` of an RGB image."""
        batch = np.empty((len(boxes), INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        for i, box in enumerate(boxes):
            batch[i] = patch(image, box, self.scale)
        return batch

    def predict_faces(self, image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """Softmax probabilities ``[N, 3]`` of the faces `boxes` of an RGB image."""
        if len(boxes) == 0:
            return np.zeros((0, 3))
        return softmax(self.forward(self.preprocess_faces(image, boxes))[0])


class MiniFASNetV2(MiniFASNet):
    scale = 2.7


class MiniFASNetV1SE(MiniFASNet):
    scale = 4.0


def _export(scale: float) -> dict[str, Any]:
    return {
        "summary": "face liveness (anti-spoofing): live face vs print/replay, one of two nets",
        "input": {"name": "input", "shape": ["N", INPUT_SIZE, INPUT_SIZE, 3], "dtype": "float32", "layout": "NHWC",
                  "color": "RGB (the first convolution reads it as upstream's BGR)", "range": "raw 0..255"},
        "crop": f"upstream's: box [int(x), int(y), int(w + 1), int(h + 1)] grown {scale}x around its centre "
                "(capped to fit), moved inside the image, inclusive corners; OpenCV INTER_LINEAR resize to 80x80",
        "preprocessing": {"normalisation": "none (upstream's to_tensor keeps 0..255)"},
        "outputs": {"logits": "[N, 3] logits; softmax class 1 = live face"},
        "postprocessing": ["p = softmax(logits)", "score = (p_v2[1] + p_v1se[1]) / 2 (the two nets' mean)"],
        "licence": "Apache-2.0 (Minivision); LICENSE shipped beside the weights",
    }


#: `NetSpec.graph_version` of both ("4": channels padded to `CHANNEL_BLOCK`, PReLU folded as
#: `_Builder.conv_block` says; "2" was relu + slope * min).
GRAPH_VERSION = "4"

V2_SPEC = MiniFASNetV2.spec = NetSpec(
    name="minifasnet_v2", label="Liveness (MiniFASNetV2, 2.7x)", kind="liveness", model="minifasnet_v2_2.7",
    input_size=INPUT_SIZE, net_class=MiniFASNetV2, build_graph=build_graph, export=_export(2.7),
    graph_version=GRAPH_VERSION)
V1SE_SPEC = MiniFASNetV1SE.spec = NetSpec(
    name="minifasnet_v1se", label="Liveness (MiniFASNetV1SE, 4.0x)", kind="liveness", model="minifasnet_v1se_4.0",
    input_size=INPUT_SIZE, net_class=MiniFASNetV1SE, build_graph=build_graph, export=_export(4.0),
    graph_version=GRAPH_VERSION)

#: Both liveness nets, in upstream's order of summing.
SPECS: tuple[NetSpec, ...] = (V2_SPEC, V1SE_SPEC)

__all__ = ["INPUT_SIZE", "LIVE_CLASS", "SPECS", "V1SE_SPEC", "V2_SPEC", "MiniFASNet", "MiniFASNetV1SE",
           "MiniFASNetV2", "build_graph", "liveness_score", "patch", "resize_linear", "scaled_box", "softmax",
           "upstream_bbox", "weights_file"]
