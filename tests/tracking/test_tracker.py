"""The video tracker (moved as is to faceapi.tracking; to be replaced by the one shared tracker)."""

from __future__ import annotations

import numpy as np
import pytest

from faceapi.errors import OptionsError
from faceapi.results import Box, Detection, Expressions, Face
from faceapi.tracking import Tracker, iou


def test_tracker_reidentifies_with_descriptors_after_a_short_loss():
    def face(x, desc=None, probs=None):
        det = Detection(Box(x, 10, 50, 50), 0.9, 640, 480)
        return Face(det, descriptor=None if desc is None else np.asarray(desc, np.float32),
                    expressions=None if probs is None else Expressions(tuple(probs)))

    d_a, d_b = np.zeros(128), np.full(128, 0.2)  # distance 2.26: two people
    tr = Tracker(smooth_window=2, reid_seconds=1.0)
    p1, p2 = [1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0]
    a0, b0 = tr.update([face(0, d_a, p1), face(300, d_b)], 0.0)
    assert (a0.track, b0.track) == (1, 2) and a0.smoothed == tuple(map(float, p1))
    assert [t.track for t in tr.update([face(5, d_a, p2)], 0.1)] == [1]  # IoU
    assert a0.smoothed_dominant == "neutral"
    tr.update([], 0.2)  # both lost
    # they come back elsewhere, swapped: IoU cannot help, the descriptors can
    back = tr.update([face(320, d_a + 0.01, p2), face(10, d_b)], 0.3)
    assert [t.track for t in back] == [1, 2]
    assert back[0].smoothed == pytest.approx((0, 1, 0, 0, 0, 0, 0))  # window 2: the last two were happy
    # too long lost: a new track
    tr.update([], 2.0)
    assert [t.track for t in tr.update([face(600, d_a)], 2.5)] == [3]
    # without descriptors a lost face starts a new track
    tr2 = Tracker()
    tr2.update([face(0)], 0.0)
    tr2.update([], 0.1)
    assert [t.track for t in tr2.update([face(0)], 0.2)] == [2]


def test_tracker_iou_and_bad_settings():
    assert iou(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou(Box(0, 0, 10, 10), Box(20, 0, 10, 10)) == 0.0
    with pytest.raises(OptionsError, match="iou_threshold"):
        Tracker(iou_threshold=0)
    with pytest.raises(OptionsError, match="smooth_window"):
        Tracker(smooth_window=0)

