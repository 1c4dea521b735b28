"""`FaceTracker` as a library: the One Euro filter's formula, raw values equal to `FaceAnalyzer.analyze` on
detector frames, when the detector runs (interval by frames and by time, scene change, implausible
landmarks, no landmarks), ids across short losses (by position; by descriptor elsewhere in the frame)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from faceapi.options import AnalyzeOptions, TrackingOptions
from faceapi.tracking.face_tracker import FaceTracker
from faceapi.tracking.one_euro import ExponentialSmoother, OneEuroFilter, smoothing_factor

FPS = 30
QUIET = {"detect_every": 0, "detect_ms": 0, "scene_change": 0}  # the detector only when it must


def jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def decoded(frame: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(frame)).convert("RGB"))


def run(tracker: FaceTracker, frames, start: int = 0):
    """Each frame at the capture time of a 30 fps webcam."""
    return [tracker.update(f, (start + k) / FPS) for k, f in enumerate(frames)]


def test_one_euro_filter_follows_its_formula():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    assert f(np.array([[4.0, 2.0]]), 0.0).tolist() == [[4.0, 2.0]]  # the first sample passes as is
    a = 1 / (1 + 1 / (2 * math.pi * 1.0 * 0.1))
    assert f(np.array([[14.0, 2.0]]), 0.1) == pytest.approx(np.array([[4 + 10 * a, 2.0]]))
    assert f(np.array([[99.0, 99.0]]), 0.1) == pytest.approx(np.array([[4 + 10 * a, 2.0]]))  # no time passed
    # beta: the cutoff rises with the smoothed speed of each point (its 2-D velocity's length)
    g = OneEuroFilter(min_cutoff=1.0, beta=0.5, d_cutoff=2.0)
    g(np.zeros((2, 2)), 0.0)
    out = g(np.array([[3.0, 4.0], [0.0, 0.0]]), 0.1)
    speed = float(smoothing_factor(2.0, 0.1)) * 50.0  # |(30, 40)| px/s, smoothed once
    assert out[0] == pytest.approx(np.array([3.0, 4.0]) * float(smoothing_factor(1.0 + 0.5 * speed, 0.1)))
    assert out[1].tolist() == [0.0, 0.0]
    s = ExponentialSmoother(0.25)
    assert s(np.array([1.0, 0.0])).tolist() == [1.0, 0.0]
    assert s(np.array([0.0, 1.0])) == pytest.approx([0.75, 0.25])


def test_raw_values_are_the_engines_on_detector_frames(analyzer, stream_options, happy_clip):
    tracker = FaceTracker(analyzer, stream_options, TrackingOptions(detect_every=4))
    frames = happy_clip.frames[:12] + happy_clip.frames[happy_clip.still:happy_clip.still + 12]
    results = run(tracker, frames)
    assert [r.detected for r in results] == [k % 4 == 0 for k in range(len(frames))], \
        [r.reason for r in results]
    for frame, r in zip(frames, results):
        assert len(r.faces) == len(r.raw.faces) == 1
        assert r.faces[0].raw is r.raw.faces[0]
        if r.detected:
            engine = analyzer.analyze(frame, stream_options).to_dict()
            got = r.raw.to_dict()
            assert got["faces"] == engine["faces"]  # exactly: the same call
            assert set(got["timings_ms"]) <= set(r.timings_ms)
        else:
            assert "detect" not in r.timings_ms and {"landmarks", "expressions", "tracking"} <= set(r.timings_ms)
            # the region the detector did not give: the face's box, holding the landmarks
            box, pts = r.raw.faces[0].detection.box, r.raw.faces[0].landmarks.positions
            assert box.x < pts[:, 0].min() and pts[:, 0].max() < box.right
        d = r.to_dict()
        assert d["detected"] is r.detected and d["faces"][0]["raw"] == r.raw.faces[0].to_dict(descriptor=False)
        assert d["faces"][0]["track"] == 1


def test_detector_interval_by_frames_and_by_time(analyzer, stream_options, happy_clip):
    frames = happy_clip.frames[:happy_clip.still]
    by_frames = run(FaceTracker(analyzer, stream_options, TrackingOptions(**{**QUIET, "detect_every": 7})), frames)
    assert [k for k, r in enumerate(by_frames) if r.detected] == list(range(0, len(frames), 7))
    assert {r.reason for r in by_frames if r.detected} == {"start", "interval"}
    # by time: at 30 fps, 250 ms after the last run (the stated rule, replayed)
    by_time = run(FaceTracker(analyzer, stream_options, TrackingOptions(**{**QUIET, "detect_ms": 250})), frames)
    expected, last = [0], 0
    for k in range(1, len(frames)):
        if (k - last) / FPS * 1000 >= 250:
            expected.append(k)
            last = k
    assert [k for k, r in enumerate(by_time) if r.detected] == expected


def test_scene_change_runs_the_detector(analyzer, stream_options, happy_clip, faces_clip):
    tracker = FaceTracker(analyzer, stream_options, TrackingOptions(**{**QUIET, "scene_change": 20}))
    results = run(tracker, [*happy_clip.frames[:5], *faces_clip.frames[:3]])
    assert [r.reason for r in results] == ["start", None, None, None, None, "scene_change", None, None]
    assert len(results[5].faces) == len(analyzer.analyze(faces_clip.frames[0], stream_options).faces) >= 5


@pytest.mark.parametrize("change", ["upside_down", "jump"])
def test_implausible_landmarks_run_the_detector(analyzer, stream_options, happy_clip, change):
    still = decoded(happy_clip.frames[0])
    # upside down, the face stays where it was and the shape check fails; after a 200 px jump, what the
    # old region holds is not the face
    moved = still[::-1].copy() if change == "upside_down" else np.roll(still, 200, axis=1)
    tracker = FaceTracker(analyzer, stream_options, TrackingOptions(**QUIET))
    results = run(tracker, [jpeg(still)] * 4 + [jpeg(moved)] * 2)
    assert [r.reason for r in results[:5]] == ["start", None, None, None, "implausible"]
    if change == "jump":  # found again by the detector, where it is now, and followed from there
        assert results[5].reason is None
        box = results[4].faces[0].raw.detection.box
        first = results[0].faces[0].raw.detection.box
        assert box.x - first.x == pytest.approx(200, abs=10)


def test_without_landmarks_the_detector_runs_on_every_frame(analyzer, happy_clip):
    options = AnalyzeOptions.from_dict({"detector": "tiny", "expressions": True})
    results = run(FaceTracker(analyzer, options), happy_clip.frames[:6])
    assert [r.reason for r in results] == ["start"] + ["no_landmarks"] * 5
    assert {f.track for r in results for f in r.faces} == {1}


def _blank(frame: bytes) -> bytes:
    rgb = decoded(frame).copy()
    rgb[:] = (24, 28, 34)
    return jpeg(rgb)


def test_a_face_lost_briefly_keeps_its_id(analyzer, stream_options, happy_clip):
    face, blank = happy_clip.frames[0], _blank(happy_clip.frames[0])
    clip = [face] * 4 + [blank] * 3 + [face] * 3
    results = run(FaceTracker(analyzer, stream_options, TrackingOptions(detect_every=2)), clip)
    assert [len(r.faces) for r in results] == [1] * 4 + [0] * 3 + [1] * 3
    assert {f.track for r in results for f in r.faces} == {1}
    # lost for longer than reid_seconds: a new id
    late = run(FaceTracker(analyzer, stream_options, TrackingOptions(detect_every=2, reid_seconds=0.05)), clip)
    assert [f.track for r in late for f in r.faces] == [1] * 4 + [2] * 3


def test_a_face_back_elsewhere_takes_up_its_track(analyzer, happy_clip):
    """By descriptor with descriptors on, by its appearance signature without them."""
    still = decoded(happy_clip.frames[0])
    left, right = jpeg(still), jpeg(np.roll(still, 230, axis=1))
    clip = [left] * 3 + [_blank(left)] * 2 + [right] * 2
    for descriptors in (True, False):
        options = AnalyzeOptions.from_dict({"detector": "tiny", "landmarks": "full", "descriptors": descriptors})
        results = run(FaceTracker(analyzer, options), clip)
        first, back = results[0].faces[0].raw.detection.box, results[5].faces[0].raw.detection.box
        assert first.iou(back) == 0  # no overlap to go by
        assert [f.track for r in results for f in r.faces] == [1] * 5, descriptors


def test_options_change_keeps_ids_and_runs_the_detector(analyzer, stream_options, happy_clip):
    tracker = FaceTracker(analyzer, stream_options)
    run(tracker, happy_clip.frames[:3])
    tracker.configure(AnalyzeOptions.from_dict({"detector": "tiny", "landmarks": "tiny", "age_gender": True}))
    (r,) = run(tracker, happy_clip.frames[3:4], start=3)
    assert r.reason == "options" and r.faces[0].track == 1
    ag = r.faces[0].face.age_gender
    assert ag is not None and r.faces[0].face.expressions is None


def test_smoothed_expressions_keep_their_calibration(analyzer, stream_options, happy_clip):
    """With `calibrated` on, a tracked face's smoothed expressions carry calibrated probabilities: the
    model's temperature applied to the smoothed probabilities (softmax(log p / T)); on the first frame,
    where smoothed equals raw, they equal the engine's own calibration of the logits."""
    from dataclasses import replace

    from faceapi.expression_models import calibrate_probabilities

    options = replace(stream_options, calibrated=True)
    frames = run(FaceTracker(analyzer, options, TrackingOptions()), happy_clip.frames[:12])
    first = frames[0].faces[0]
    assert first.raw.expressions.calibrated is not None
    np.testing.assert_allclose(first.face.expressions.calibrated, first.raw.expressions.calibrated, atol=1e-5)
    for frame in frames:
        for tf in frame.faces:
            e = tf.face.expressions
            assert e.calibrated is not None, "the smoothed expressions lost their calibration"
            np.testing.assert_allclose(e.calibrated, calibrate_probabilities(np.array(e.probabilities)), atol=1e-6)
            assert int(np.argmax(e.calibrated)) == int(np.argmax(e.probabilities))
