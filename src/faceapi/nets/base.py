"""What every net is: one frozen `NetSpec` per net (the one place a fact about a net is written), `OnnxNet`,
every net's base class, `FaceCropNet`, the face nets' (landmarks, expressions, age/gender, descriptors),
and the two shapes a net has, `Detector` and `FaceNet`.

``forward`` means the same in every net: an NHWC float32 batch of raw pixels, already padded and resized
to the net's input (its module's ``preprocess``), in; the graph's raw outputs, in graph order, out.
``detect`` / ``predict`` are the whole of it: preprocess, forward, face-api.js's post-processing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

import numpy as np

from faceapi.engine.graph_cache import cached_graph
from faceapi.engine.runtime import Precision, RuntimeConfig, create_session
from faceapi.models.registry import LIVENESS_MODELS, MODELS, ModelFiles, StateDictFiles
from faceapi.models.store import LoadedWeights, load_weights

if TYPE_CHECKING:
    import onnx

    from faceapi.models.manifest import WeightMap
    from faceapi.results import Detection

#: The public net names, in `faceapi.nets.NET_SPECS` order.
NetName = Literal["ssd_mobilenetv1", "tiny_face_detector", "face_landmark_68", "face_landmark_68_tiny",
                  "face_expression", "age_gender", "face_recognition", "minifasnet_v2", "minifasnet_v1se"]
#: Detectors find faces in a whole image; face nets take face crops; liveness nets take the image and a face
#: box (their own scaled crops around it).
NetKind = Literal["detector", "face", "liveness"]


@dataclass(frozen=True, eq=False)
class NetSpec:
    """Everything faceapi knows about one net, declared once in the net's module.

    Attributes:
        name: the public name (`NetName`): the CLI's ``--nets``, ``/api/models``, export file names.
        label: the human name the page and ``faceapi models`` show, e.g. "Tiny Face Detector".
        kind: "detector" or "face".
        model: the weights' name, the stem of its files (``<model>-weights_manifest.json``,
            ``<model>.bin``); `faceapi.models.MODELS` pins their SHA-256.
        input_size: side of the square net input; None where the caller picks it (the tiny detector:
            any multiple of 32, `TinyFaceDetectorOptions.input_size`).
        net_class: the class that loads the weights and runs the graph (a `Detector` or `FaceNet`).
        build_graph: weights -> the ONNX graph (NHWC raw pixels in, raw outputs out).
        graph_version: bumped whenever `build_graph` makes a different graph (part of the cache key).
        export: what ``faceapi export-onnx`` writes beside the graph: summary, input, preprocessing,
            outputs (name -> meaning), postprocessing, and net-specific keys (crop, labels, anchors, ...).
    """

    name: NetName
    label: str
    kind: NetKind
    model: str
    input_size: int | None
    net_class: type[OnnxNet]
    build_graph: Callable[[WeightMap], onnx.ModelProto]
    export: Mapping[str, Any]
    graph_version: str = "1"

    @property
    def weights(self) -> ModelFiles | StateDictFiles:
        """The weight files and their pinned hashes."""
        return MODELS[self.model] if self.model in MODELS else LIVENESS_MODELS[self.model]

    @property
    def files(self) -> tuple[str, ...]:
        """The file names the net reads from the model folder (manifest, then weights)."""
        return tuple(self.weights.files)


O_contra = TypeVar("O_contra", contravariant=True)
R = TypeVar("R")


class Detector(Protocol[O_contra]):
    """A face detector: `detect` gives the faces of an RGB image in face-api.js's order."""

    spec: ClassVar[NetSpec]

    def forward(self, batch: np.ndarray) -> list[np.ndarray]: ...

    def detect(self, image: np.ndarray, options: O_contra) -> list[Detection]: ...


class FaceNet(Protocol[R]):
    """A net on face crops: `predict` gives one result per crop (all crops run as one batch)."""

    spec: ClassVar[NetSpec]

    def preprocess(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...

    def forward(self, batch: np.ndarray) -> list[np.ndarray]: ...

    def predict(self, crops: Sequence[np.ndarray]) -> list[R]: ...


class OnnxNet:
    """Base of every net: loads the weights, builds (or reuses) the graph, holds one session.

    Each subclass gets its `NetSpec` (``spec``) in its module, which also holds the pure
    ``preprocess``/``postprocess`` functions around the graph.
    """

    spec: ClassVar[NetSpec]
    input_name: ClassVar[str] = "input"

    def __init__(self, models_dir: str | os.PathLike[str] | None = None, runtime: RuntimeConfig | None = None):
        spec = self.spec
        loaded = self.load_weights(models_dir)
        self.model_bytes = cached_graph(spec.model, loaded, spec.graph_version, spec.build_graph)
        self.precision: Precision = "float"
        if runtime is not None and runtime.precision == "int8":
            from faceapi.engine import quantize  # onnxruntime's quantization tools: only for int8

            if spec.model in quantize.INT8_MODELS:
                self.model_bytes = quantize.cached_int8_graph(spec.model, spec.graph_version, loaded, self.model_bytes)
                self.precision = "int8"
        self.session = create_session(self.model_bytes, runtime)
        self.output_names: list[str] = [o.name for o in self.session.get_outputs()]

    @classmethod
    def load_weights(cls, models_dir: str | os.PathLike[str] | None) -> LoadedWeights:
        """The net's verified weights (face-api.js's manifest + bin; a net with other files overrides this)."""
        return load_weights(cls.spec.model, models_dir)

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        """The graph's raw outputs, in graph order, for an NHWC float32 batch of padded, resized raw pixels."""
        outputs: list[np.ndarray] = self.session.run(
            None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})
        return outputs


def crop_sizes_of(crops: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """Each crop's (width, height)."""
    return [(int(c.shape[1]), int(c.shape[0])) for c in crops]


class FaceCropNet(OnnxNet, Generic[R]):
    """Base of the face nets: one result per face crop, all crops as one batch. A subclass gives its module's
    pure ``preprocess`` (crops -> the NHWC float32 batch at the net's input) and `finish` (the graph's outputs
    -> results, face-api.js's post-processing)."""

    @staticmethod
    def preprocess(crops: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def finish(self, outputs: list[np.ndarray], crop_sizes: Sequence[tuple[int, int]]) -> list[R]:
        """Results from the graph's outputs; `crop_sizes` (width, height) for a net whose results are in crop
        pixels (the landmarks)."""
        raise NotImplementedError

    def predict(self, crops: Sequence[np.ndarray]) -> list[R]:
        """One result per crop."""
        if len(crops) == 0:
            return []
        return self.finish(self.forward(self.preprocess(crops)), crop_sizes_of(crops))

    def predict_input(self, batch: np.ndarray, crop_sizes: Sequence[tuple[int, int]] = ()) -> list[R]:
        """`predict` on crops preprocessed already (the pipeline prepares one batch per input size for the
        nets that share it)."""
        return self.finish(self.forward(batch), crop_sizes) if len(batch) else []
