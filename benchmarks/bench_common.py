"""What the benchmarks share: the nets by name, their inputs (the bbt4 reference crops), a timer.

Not a benchmark itself. Inputs come from /work/shared (or $FACEAPI_SHARED); the face nets get the six bbt4
reference crops of the kind face-api.js feeds them, the detectors the bbt4 image (batch 6: six copies).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from faceapi.engine.runtime import RuntimeConfig
from faceapi.image import load_image
from faceapi.nets import (
    NET_SPECS,
    age_gender,
    face_expression,
    face_landmark_68,
    face_recognition,
    ssd_mobilenetv1,
    tiny_face_detector,
)
from faceapi.nets.base import NetSpec, OnnxNet

#: the bbt4 crop kind face-api.js feeds each face net ("image": a detector, fed the whole image)
INPUT_KIND = {
    "ssd_mobilenetv1": "image",
    "tiny_face_detector": "image",
    "face_landmark_68": "detection",
    "face_landmark_68_tiny": "detection",
    "face_expression": "aligned",
    "age_gender": "aligned",
    "face_recognition": "dlib",
}
#: net name -> (spec, input kind)
NETS: dict[str, tuple[NetSpec, str]] = {s.name: (s, INPUT_KIND[s.name]) for s in NET_SPECS}
#: net name -> the module with its ``preprocess``
MODULES = {"ssd_mobilenetv1": ssd_mobilenetv1, "tiny_face_detector": tiny_face_detector,
           "face_landmark_68": face_landmark_68, "face_landmark_68_tiny": face_landmark_68,
           "face_expression": face_expression, "age_gender": age_gender, "face_recognition": face_recognition}

#: multiply-accumulates per input at the default size (spec section 0; tiny at 416)
MACS = {
    "ssd_mobilenetv1": 3_143_007_488,
    "tiny_face_detector": 198_760_528,
    "face_landmark_68": 51_571_840,
    "face_landmark_68_tiny": 28_705_536,
    "face_expression": 51_538_816,
    "age_gender": 97_230_080,
    "face_recognition": 270_854_144,
}


#: thread-pool mode -> (title, environment of a process in that mode); docs/design-notes.md "Thread pools"
POOLS: dict[str, tuple[str, dict[str, str]]] = {
    "own": ("own pools", {"FACEAPI_SHARED_POOL": "0"}),  # each net's pool, spinning 20 µs: the default
    "nospin": ("own pools, no spinning", {"FACEAPI_SHARED_POOL": "0", "FACEAPI_SPIN_US": "0"}),
    "shared": ("shared pool", {"FACEAPI_SHARED_POOL": "1"}),  # one pool for all nets, onnxruntime's long spin
}


def shared_dir() -> Path:
    return Path(os.environ.get("FACEAPI_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def load_crops(kind: str) -> list[np.ndarray]:
    """The six bbt4 face crops of one kind (detection, aligned, dlib) face-api.js's reference saved."""
    from PIL import Image

    folder = shared_dir() / "reference" / "bbt4"
    return [np.asarray(Image.open(folder / f"face{i}_{kind}.png").convert("RGB")) for i in range(6)]


def bbt4() -> np.ndarray:
    return load_image(shared_dir() / "images" / "bbt4.jpg")


def graph_input(name: str, batch: int) -> np.ndarray:
    """The exact NHWC float32 batch the net's graph gets (pre-processing done), `batch` inputs."""
    kind = NETS[name][1]
    if name == "ssd_mobilenetv1":
        one = ssd_mobilenetv1.preprocess(bbt4())[0]
        return np.repeat(one, batch, axis=0)
    if name == "tiny_face_detector":
        one = tiny_face_detector.preprocess(bbt4(), 416)[0]
        return np.repeat(one, batch, axis=0)
    crops = load_crops(kind)
    crops = [crops[i % 6] for i in range(batch)]
    batch_input: np.ndarray = MODULES[name].preprocess(crops)
    return batch_input


def load_net(name: str, runtime: RuntimeConfig | None = None) -> Any:
    net: OnnxNet = NETS[name][0].net_class(None, runtime)
    return net


def fma_peak_gmacs() -> float:
    """The machine's practical FMA peak in GMAC/s, every core: a float32 matrix product of 2048 x 2048
    matrices with numpy's BLAS (its hand-tuned FMA kernels), best of 5.

    A measured peak, not a datasheet one: this is a virtual machine whose clock and vector units are not
    known for sure (``/proc/cpuinfo`` says "AMD EPYC", 2.6 GHz), and what the best code reaches on it is
    the fair yardstick for ours."""
    n = 2048
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), np.float32), rng.random((n, n), np.float32)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(5))
    return n**3 / best / 1e9


def _seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def timed(fn: Callable[[], object], reps: int, warmup: int = 3) -> tuple[float, float]:
    """(median, min) wall time in ms of `reps` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)
