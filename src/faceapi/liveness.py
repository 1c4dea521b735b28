"""Liveness: is a face a live person or a photo of one? The two MiniFASNet nets (`faceapi.nets.minifasnet`)
on every face, combined as upstream combines them, and judged against the shipped threshold.

`LIVENESS_THRESHOLD` was chosen on ``../shared/eval/liveness/nuaa-dev`` (print attacks, subjects 0001-0009)
by leave-one-subject-out, as docs/liveness.md says with the figures; upstream's own rule (live when the
summed probability wins, about 0.5) rejected a quarter of the live faces there.

`FaceAnalyzer.analyze` calls `apply_liveness` once the other per-face nets have run: each face gets its
`Liveness`, and with ``require_live`` a face judged not live that recognition named is reported as
`NOT_LIVE` instead. Enrolment refuses such a face (`check_live`, `NotLiveError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from faceapi.errors import GalleryError, NotLiveError
from faceapi.nets import minifasnet
from faceapi.results import Box, Face, FaceMatch, Liveness

if TYPE_CHECKING:
    from faceapi.options import AnalyzeOptions
    from faceapi.pipeline import FaceAnalyzer

#: A face is live when its score (the probability of a live face, 0..1) is at least this. Chosen on nuaa-dev
#: (`faceapi eval liveness ../shared/eval/liveness/nuaa-dev`) by the rule `faceapi.evaluation.liveness`
#: validates subject by subject: the middle of the lowest range of thresholds with APCER <= 1 % (0.0322 on
#: all nine subjects, between the highest attack, 0.022, and the lowest live face, 0.042). Upstream's
#: 0.5 rejected 7.8 % of the live faces there. docs/liveness.md has the figures.
LIVENESS_THRESHOLD = 0.032
#: The label recognition reports for a face that is not live when a live one is required.
NOT_LIVE = "not live"
#: The liveness nets, in upstream's order of summing.
LIVENESS_NETS: tuple[str, ...] = tuple(s.name for s in minifasnet.SPECS)


def _nets(analyzer: FaceAnalyzer) -> list[minifasnet.MiniFASNet]:
    nets = []
    for name in LIVENESS_NETS:
        net = analyzer.net(name)
        if not isinstance(net, minifasnet.MiniFASNet):  # cannot happen while the specs are right
            raise TypeError(f"net {name!r} is a {type(net).__name__}, not a MiniFASNet")
        nets.append(net)
    return nets


def liveness_scores(analyzer: FaceAnalyzer, image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """The live-face probability ``[N]`` of each detection box of an RGB image (both nets, one batch each)."""
    if len(boxes) == 0:
        return np.zeros(0)
    return minifasnet.liveness_score([net.predict_faces(image, boxes) for net in _nets(analyzer)])


def judge(score: float, threshold: float | None = None) -> Liveness:
    """A score against a threshold (the shipped one by default)."""
    t = LIVENESS_THRESHOLD if threshold is None else float(threshold)
    return Liveness(score=float(score), live=bool(score >= t), threshold=t)


def apply_liveness(analyzer: FaceAnalyzer, image: np.ndarray, faces: list[Face],
                   options: AnalyzeOptions) -> list[Face]:
    """Each face with its `Liveness` (on its detection box, upstream's crops) by `with_verdict`."""
    if not faces:
        return faces
    scores = liveness_scores(analyzer, image, [f.detection.box for f in faces])
    return [with_verdict(face, judge(float(score), options.liveness_threshold), options)
            for face, score in zip(faces, scores)]


def with_verdict(face: Face, verdict: Liveness | None, options: AnalyzeOptions) -> Face:
    """`face` with its liveness `verdict` (None: unchanged), and `withhold_name` by it."""
    if verdict is None:
        return face
    return withhold_name(face.with_(liveness=verdict), verdict.live, options)


def withhold_name(face: Face, live: bool, options: AnalyzeOptions) -> Face:
    """With ``require_live``, a face judged not live loses any name recognition gave it (`NOT_LIVE`, no
    distance). The one place that rule is applied (single images here, tracked faces by their track's
    smoothed verdict in `faceapi.tracking`)."""
    if options.require_live and not live and face.match is not None:
        return face.with_(match=FaceMatch(NOT_LIVE, float("inf")))
    return face


def check_live(face: Face, name: str) -> None:
    """Enrolment with a live face required: `NotLiveError` (saying the score) unless `face` was judged live."""
    verdict = face.liveness
    if verdict is None:
        raise GalleryError(f"{name}: liveness was not computed for the face")
    if not verdict.live:
        raise NotLiveError(f"{name}: the face is not live (liveness score {verdict.score:.3f} is under the "
                           f"threshold {verdict.threshold:g}): a photo of a photo or a screen is not enrolled",
                           verdict)


__all__ = ["LIVENESS_NETS", "LIVENESS_THRESHOLD", "NOT_LIVE", "NotLiveError", "apply_liveness", "check_live",
           "judge", "liveness_scores", "with_verdict", "withhold_name"]
