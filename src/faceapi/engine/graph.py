"""A small builder for the ONNX graphs of face-api.js's nets, written once for all of them.

Weights arrive in TensorFlow layouts (conv ``HWIO``, depthwise ``[k, k, C, 1]``); the builder transposes
them to ONNX's ``OIHW``. Graphs take an NHWC float32 batch of raw pixel values (0..255, already padded
and resized to the net's input size), normalise it and transpose it to NCHW inside the graph.
TensorFlow's SAME padding is asymmetric for stride 2 (0 before, 1 after): ONNX ``SAME_UPPER`` is exactly that.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# A change here that makes different graphs must bump faceapi.engine.graph_cache.BUILDER_VERSION (the graph
# cache key), which lives there so that a cached graph loads without importing onnx.


class GraphBuilder:
    """Collects nodes and constant initialisers; every method returns the name of its output."""

    def __init__(self, name: str):
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def _fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: np.ndarray, hint: str = "const") -> str:
        name = self._fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        out = self._fresh(hint or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def split(self, x: str, sizes: list[int], axis: int, names: list[str], node_name: str) -> list[str]:
        """``Split`` into parts of the given sizes along `axis`, with the given output and node names."""
        sizes_const = self.const(np.array(sizes, np.int64), "split")
        self.nodes.append(helper.make_node("Split", [x, sizes_const], names, name=node_name, axis=axis))
        return names

    def constant(self, value: np.ndarray, name: str) -> str:
        """A ``Constant`` node (not an initialiser: the ONNX checker refuses an initialiser routed straight
        to a graph output)."""
        self.nodes.append(helper.make_node("Constant", [], [name], name=name,
                                           value=numpy_helper.from_array(np.ascontiguousarray(value))))
        return name

    # -- input normalisation ------------------------------------------------------------------------
    def nhwc_input(self, x: str, mean: tuple[float, float, float] | None, divisor: float | None,
                   multiplier: float | None = None, offset: float | None = None) -> str:
        """NHWC -> NCHW, then per-channel ``(x - mean) / divisor`` (or ``x * multiplier - offset``).

        Transposing first is several times faster: onnxruntime broadcasts a ``[1, 3, 1, 1]`` mean over
        NCHW planes quickly, a ``[3]`` mean over NHWC's innermost axis slowly (2.8 of the tiny detector's
        10 ms). The element-wise results are the same.
        """
        x = self.node("Transpose", [x], perm=[0, 3, 1, 2])
        if mean is not None:
            x = self.node("Sub", [x, self.const(np.array(mean, np.float32).reshape(1, 3, 1, 1), "mean")])
        if divisor is not None:
            x = self.node("Div", [x, self.const(np.array(divisor, np.float32), "divisor")])
        if multiplier is not None:
            x = self.node("Mul", [x, self.const(np.array(multiplier, np.float32), "multiplier")])
        if offset is not None:
            x = self.node("Sub", [x, self.const(np.array(offset, np.float32), "offset")])
        return x

    def nchw(self, x: str) -> str:
        """NHWC -> NCHW, no normalisation (for a first convolution that takes it over: `normalising_conv`)."""
        return self.node("Transpose", [x], perm=[0, 3, 1, 2])

    def normalising_conv(self, x: str, filters_hwio: np.ndarray, bias: np.ndarray, mean: tuple[float, float, float],
                         divisor: float, stride: int = 1, hint: str = "conv") -> str:
        """``conv((x - mean) / divisor)`` (VALID) on raw NCHW pixels, the normalisation folded into the conv:
        filters ``W / divisor``, bias ``b - sum(W * mean) / divisor`` (in float64). Two passes over the
        input fewer; the results move by float32 rounding only. VALID only: with SAME padding, the zeros
        padded around raw pixels would stand for ``-mean / divisor``, not 0."""
        w = filters_hwio.astype(np.float64) / divisor
        folded_bias = bias.astype(np.float64) - np.einsum("hwio,i->o", w, np.asarray(mean, np.float64))
        return self.conv(x, w.astype(np.float32), folded_bias.astype(np.float32), stride, "VALID", hint)

    # -- convolutions -------------------------------------------------------------------------------
    def _pad_attrs(self, padding: str) -> dict[str, str]:
        if padding == "SAME":
            return {"auto_pad": "SAME_UPPER"}
        if padding == "VALID":
            return {"auto_pad": "VALID"}
        raise ValueError(f"padding must be SAME or VALID, got {padding!r}")

    def conv(self, x: str, filters_hwio: np.ndarray, bias: np.ndarray | None, stride: int = 1,
             padding: str = "SAME", hint: str = "conv") -> str:
        """Regular convolution with an HWIO filter."""
        w = self.const(filters_hwio.transpose(3, 2, 0, 1).astype(np.float32), hint + "_w")
        inputs = [x, w] + ([self.const(bias.astype(np.float32), hint + "_b")] if bias is not None else [])
        kh, kw = filters_hwio.shape[:2]
        return self.node("Conv", inputs, hint, kernel_shape=[kh, kw], strides=[stride, stride],
                         **self._pad_attrs(padding))

    def depthwise(self, x: str, filters: np.ndarray, bias: np.ndarray | None = None, stride: int = 1,
                  padding: str = "SAME", hint: str = "dw") -> str:
        """Depthwise convolution (multiplier 1) with a ``[k, k, C, 1]`` filter."""
        channels = filters.shape[2]
        w = self.const(filters.transpose(2, 3, 0, 1).astype(np.float32), hint + "_w")
        inputs = [x, w] + ([self.const(bias.astype(np.float32), hint + "_b")] if bias is not None else [])
        return self.node("Conv", inputs, hint, kernel_shape=list(filters.shape[:2]), group=channels,
                         strides=[stride, stride], **self._pad_attrs(padding))

    def separable(self, x: str, depthwise: np.ndarray, pointwise: np.ndarray, bias: np.ndarray,
                  stride: int = 1, padding: str = "SAME", hint: str = "sep") -> str:
        """tfjs ``separableConv2d``: depthwise, then 1x1 pointwise, then bias (nothing in between)."""
        d = self.depthwise(x, depthwise, None, stride, padding, hint + "_dw")
        return self.conv(d, pointwise, bias, 1, "VALID", hint + "_pw")

    # -- element-wise and pooling -------------------------------------------------------------------
    def relu(self, x: str) -> str:
        return self.node("Relu", [x])

    def relu6(self, x: str) -> str:
        return self.node("Clip", [x, self.const(np.array(0, np.float32)), self.const(np.array(6, np.float32))])

    def leaky(self, x: str, alpha: float = 0.1) -> str:
        # face-api.js computes relu(x - 0.1x) + 0.1x; equal to max(x, 0.1x) up to the last float32 ulp.
        return self.node("LeakyRelu", [x], alpha=alpha)

    def add(self, a: str, b: str) -> str:
        return self.node("Add", [a, b])

    def mul(self, a: str, b: str) -> str:
        return self.node("Mul", [a, b])

    def max_pool(self, x: str, kernel: int, stride: int, padding: str = "SAME") -> str:
        return self.node("MaxPool", [x], kernel_shape=[kernel, kernel], strides=[stride, stride],
                         **self._pad_attrs(padding))

    def avg_pool(self, x: str, kernel: int, stride: int) -> str:
        return self.node("AveragePool", [x], kernel_shape=[kernel, kernel], strides=[stride, stride])

    def flatten(self, x: str) -> str:
        return self.node("Flatten", [x], axis=1)

    def dense(self, x: str, weights: np.ndarray, bias: np.ndarray | None) -> str:
        """Fully connected ``x @ W + b`` with ``W`` of shape ``[in, out]``."""
        if bias is None:
            return self.node("MatMul", [x, self.const(weights.astype(np.float32), "fc_w")])
        return self.node("Gemm", [x, self.const(weights.astype(np.float32), "fc_w"),
                                  self.const(bias.astype(np.float32), "fc_b")])

    def softmax(self, x: str) -> str:
        return self.node("Softmax", [x], axis=-1)

    # -- finishing ----------------------------------------------------------------------------------
    def build(self, inputs: dict[str, list[int | str]], outputs: dict[str, str]) -> onnx.ModelProto:
        """Make the model. `inputs`: name -> shape (str for dynamic dims); `outputs`: name -> node output."""
        for public, internal in outputs.items():
            self.nodes.append(helper.make_node("Identity", [internal], [public], name=public))
        graph = helper.make_graph(
            self.nodes,
            self.name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
            self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="faceapi")
        model.ir_version = 8
        # The checker (onnx >= 1.16) wants a shape on every graph output: take it from shape inference.
        inferred = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(model).graph.value_info}
        for out in model.graph.output:
            source = inferred.get(outputs[out.name])
            if source is not None and source.type.tensor_type.HasField("shape"):
                out.type.tensor_type.shape.CopyFrom(source.type.tensor_type.shape)
        onnx.checker.check_model(model)
        return model
