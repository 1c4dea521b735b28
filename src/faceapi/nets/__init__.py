"""One module per face-api.js network, each with its `NetSpec`; `NET_SPECS` is the registry.

Importing this package loads numpy, not onnx or onnxruntime: graphs are built (onnx) and run
(onnxruntime) only when a net is loaded.
"""

from __future__ import annotations

from faceapi.errors import OptionsError
from faceapi.nets import (
    age_gender,
    face_expression,
    face_landmark_68,
    face_recognition,
    minifasnet,
    ssd_mobilenetv1,
    tiny_face_detector,
)
from faceapi.nets.base import Detector, FaceNet, NetKind, NetName, NetSpec

#: Every net, in the order faceapi lists, loads and exports them: the detectors, then the face nets.
NET_SPECS: tuple[NetSpec, ...] = (
    ssd_mobilenetv1.SPEC,
    tiny_face_detector.SPEC,
    face_landmark_68.SPEC,
    face_landmark_68.TINY_SPEC,
    face_expression.SPEC,
    age_gender.SPEC,
    face_recognition.SPEC,
)

#: The liveness nets (MiniFASNet, not face-api.js's): known by name (`spec`, `FaceAnalyzer.net`), loaded
#: when liveness is asked for; not among the face-api.js nets that `faceapi models` and the exports list.
LIVENESS_SPECS: tuple[NetSpec, ...] = minifasnet.SPECS
#: Every net faceapi can load.
ALL_SPECS: tuple[NetSpec, ...] = NET_SPECS + LIVENESS_SPECS

_BY_NAME: dict[str, NetSpec] = {s.name: s for s in ALL_SPECS}


def net_names() -> tuple[str, ...]:
    """The public names of face-api.js's nets, in `NET_SPECS` order."""
    return tuple(s.name for s in NET_SPECS)


def spec(name: str) -> NetSpec:
    """The spec of the net called `name`.

    Raises:
        OptionsError: no net has that name (the message lists the known ones).
    """
    found = _BY_NAME.get(name)
    if found is None:
        raise OptionsError(f"unknown net {name!r}; known: {', '.join(_BY_NAME)}")
    return found


__all__ = ["ALL_SPECS", "LIVENESS_SPECS", "NET_SPECS", "Detector", "FaceNet", "NetKind", "NetName", "NetSpec",
           "net_names", "spec"]
