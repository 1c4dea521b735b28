"""The one place that builds onnxruntime sessions, and the on-disk cache of built graphs.

Sessions are created once per net and shared: ``InferenceSession.run`` is thread-safe. The execution
providers come from `RuntimeConfig` or ``$FACEAPI_PROVIDERS`` (comma separated), so an installed
``onnxruntime-gpu`` is used through its CUDA provider without code changes.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from faceapi.models.manifest import WeightMap
from faceapi.models.store import LoadedWeights, load_weights

if TYPE_CHECKING:  # onnx (0.7 s to import) is needed only to build a graph, onnxruntime only to run one
    import onnx
    import onnxruntime as ort

    from faceapi.nets.base import NetSpec

#: Changes whenever the graph builder (`faceapi.engine.graph`) makes different graphs; part of the cached
#: graphs' file names. Here, not in graph.py, so that a cached graph loads without importing onnx.
BUILDER_VERSION = "2"

log = logging.getLogger("faceapi")
log.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class RuntimeConfig:
    """How sessions run. ``threads=None`` lets onnxruntime use every physical core.

    ``spinning`` is off by default: every session has its own intra-op thread pool, and with spinning on,
    the idle threads of one net's session keep spinning while the next net runs and take its cores.
    Measured on bbt4.jpg with 2 threads, "tiny 416 + landmarks + expressions" takes 47 ms without
    spinning and 136 ms with it; a single net alone is the same either way (11.5 vs 11.9 ms).
    """

    threads: int | None = None
    providers: tuple[str, ...] | None = None
    spinning: bool = False

    def resolved_providers(self) -> list[str]:
        if self.providers:
            return list(self.providers)
        env = os.environ.get("FACEAPI_PROVIDERS")
        if env:
            return [p.strip() for p in env.split(",") if p.strip()]
        import onnxruntime as ort

        available = ort.get_available_providers()
        preferred = [p for p in ("CUDAExecutionProvider",) if p in available]
        return preferred + ["CPUExecutionProvider"]

    def resolved_threads(self) -> int:
        if self.threads is not None:
            return self.threads
        return int(os.environ.get("FACEAPI_THREADS", "0"))


def create_session(model: bytes, config: RuntimeConfig | None = None) -> ort.InferenceSession:
    import onnxruntime as ort

    config = config or RuntimeConfig()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = config.resolved_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if not config.spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, sess_options=options, providers=config.resolved_providers())


def cached_graph(name: str, loaded: LoadedWeights, version: str,
                 build: Callable[[WeightMap], onnx.ModelProto]) -> bytes:
    """The serialised graph for these weights, from ``<model folder>/onnx/`` or built and stored there.

    The file name carries the weights' hash and the graph builder's version, so new weights or a
    changed builder never reuse a stale graph. A read-only model folder just means no caching.
    """
    path = loaded.folder / "onnx" / f"{name}-{loaded.key}-v{version}-b{BUILDER_VERSION}.onnx"
    if path.is_file():
        return path.read_bytes()
    data: bytes = build(loaded.weights).SerializeToString()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("not caching %s graph in %s: %s", name, path.parent, exc)
    return data


class OnnxNet:
    """Base of every net: loads the weights, builds (or reuses) the graph, holds one session.

    Each subclass gets its `NetSpec` (``spec``) in its module, which also holds the pure
    ``preprocess``/``postprocess`` functions around the graph.
    """

    spec: ClassVar[NetSpec]
    input_name: ClassVar[str] = "input"

    def __init__(self, models_dir: str | os.PathLike[str] | None = None, runtime: RuntimeConfig | None = None):
        spec = self.spec
        loaded = load_weights(spec.model, models_dir)
        self.model_bytes = cached_graph(spec.model, loaded, spec.graph_version, spec.build_graph)
        self.session = create_session(self.model_bytes, runtime)
        self.output_names: list[str] = [o.name for o in self.session.get_outputs()]

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        """The graph's raw outputs, in graph order, for an NHWC float32 batch of padded, resized raw pixels."""
        outputs: list[np.ndarray] = self.session.run(
            None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})
        return outputs
