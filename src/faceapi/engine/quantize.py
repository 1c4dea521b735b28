"""int8 graphs (``RuntimeConfig(precision="int8")``): a net's float graph quantised statically, QDQ format.

Quantisation needs the range of every activation. Those ranges were measured once, on the shared photos
(``python benchmarks/bench_int8.py --calibrate``), and ship with the package (``engine/int8/*.json``,
onnxruntime's calibration-cache format), so making an int8 graph needs no data and builds no onnxruntime
session (which a process on the shared thread pool could not build). The ranges belong to one float graph:
their file name carries the net's graph version and the builder's version.

Only the nets in `INT8_MODELS` have an int8 graph: those where int8 was at least 1.5x faster than float with
a small, documented accuracy loss (docs/speed.md, "int8"). The others stay float
whatever the precision.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceapi.engine.graph_cache import BUILDER_VERSION, cached_graph
from faceapi.errors import ModelError

if TYPE_CHECKING:
    import onnx

    from faceapi.models.store import LoadedWeights

#: Nets (model file stems) that run in int8 when asked; chosen by benchmarks/bench_int8.py (docs/speed.md).
INT8_MODELS: frozenset[str] = frozenset({"ssd_mobilenetv1_model", "face_recognition_model"})

CALIBRATION_DIR = Path(__file__).with_name("int8")


def calibration_path(model_name: str, graph_version: str) -> Path:
    """Where the activation ranges of this float graph (this graph version, this builder) are kept."""
    return CALIBRATION_DIR / f"{model_name}-v{graph_version}-b{BUILDER_VERSION}.json"


def _prepared(model: bytes, folder: Path) -> Path:
    """The float graph with shapes inferred, as the quantiser wants it (onnx only: no onnxruntime session)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, out = folder / "float.onnx", folder / "prepared.onnx"
    src.write_bytes(model)
    quant_pre_process(str(src), str(out), skip_optimization=True, skip_symbolic_shape=True)
    return out


def _quantize_static(prepared: Path, out: Path, cache: Path, inputs: Iterable[np.ndarray] | None) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    reader = None
    if inputs is not None:
        batches = iter(inputs)

        class Reader(CalibrationDataReader):  # type: ignore[misc]
            def get_next(self) -> dict[str, np.ndarray] | None:
                batch = next(batches, None)
                return None if batch is None else {"input": batch}

        reader = Reader()
    # uint8 activations AND uint8 weights (per channel). int8 weights (U8S8) are what onnxruntime's kernels
    # run fastest, but on x86 CPUs without VNNI (AVX2 only: e.g. the AMD EPYC CI machines) they multiply with
    # VPMADDUBSW, whose int16 sums saturate: descriptors then moved up to 0.31 from float (half the match
    # threshold), where U8U8, which has no saturation on any x86 CPU (onnxruntime's quantisation docs), keeps
    # them within 0.061 on the same machine.
    quantize_static(str(prepared), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8,
                    calibrate_method=CalibrationMethod.MinMax, calibration_cache_path=str(cache))


def calibrate(model_name: str, graph_version: str, model: bytes, inputs: Iterable[np.ndarray],
              cache: Path | None = None) -> Path:
    """Measure the activation ranges of a float graph on `inputs` (graph-ready batches) and store them.

    Builds onnxruntime sessions of its own: call it before anything in the process uses the shared pool.
    """
    cache = cache or calibration_path(model_name, graph_version)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _quantize_static(_prepared(model, Path(tmp)), Path(tmp) / "int8.onnx", cache, inputs)
    cache.chmod(0o644)  # package data, not a secret (onnxruntime writes it 0600)
    return cache


def quantize(model_name: str, graph_version: str, model: bytes, cache: Path | None = None) -> onnx.ModelProto:
    """The int8 graph of a float graph, from its stored activation ranges.

    Raises:
        ModelError: no ranges for this graph (another builder or graph version than the package measured).
    """
    cache = cache or calibration_path(model_name, graph_version)
    if not cache.is_file():
        raise ModelError(f"no int8 calibration for {model_name} graph v{graph_version} (builder "
                         f"{BUILDER_VERSION}) in {cache.parent}; use precision='float'")
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "int8.onnx"
        _quantize_static(_prepared(model, Path(tmp)), out, cache, None)
        return onnx.load(str(out))


def cached_int8_graph(model_name: str, graph_version: str, loaded: LoadedWeights, float_graph: bytes) -> bytes:
    """The int8 graph, cached (and verified) like the float one; its name carries the ranges' hash too."""
    ranges = calibration_path(model_name, graph_version)
    calibration = hashlib.sha256(ranges.read_bytes()).hexdigest()[:12] if ranges.is_file() else "none"
    return cached_graph(model_name, loaded, f"{graph_version}-int8u8-{calibration}",
                        lambda _: quantize(model_name, graph_version, float_graph))
