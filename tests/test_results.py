"""Result types: `Box.iou`, the one general IoU (tests and features use it; the NMS keep face-api.js's own)."""

from __future__ import annotations

import numpy as np
import pytest

from faceapi.engine.geometry import iou_xywh
from faceapi.results import Box


def test_box_iou_hand_computed():
    a = Box(0, 0, 2, 2)
    assert a.iou(a) == 1.0
    assert a.iou(Box(1, 1, 2, 2)) == pytest.approx(1 / 7)  # inter 1, union 4 + 4 - 1
    assert a.iou(Box(2, 0, 2, 2)) == 0.0  # touching
    assert Box(0, 0, 4, 2).iou(a) == 0.5
    assert a.iou(Box(10, 10, 1, 1)) == 0.0  # disjoint
    assert Box(0, 0, 0, 0).iou(Box(0, 0, 0, 0)) == 0.0  # empty boxes: no overlap (not NaN)
    assert Box(-1, -1, 2, 2).iou(Box(0, 0, 2, 2)) == pytest.approx(1 / 7)  # negative coordinates


def test_box_iou_is_symmetric_and_agrees_with_faceapi_js_iou():
    rng = np.random.default_rng(7)
    for _ in range(200):
        x1, y1, x2, y2 = rng.uniform(-50, 50, 4)
        w1, h1, w2, h2 = rng.uniform(0.1, 60, 4)
        a, b = Box(x1, y1, w1, h1), Box(x2, y2, w2, h2)
        assert a.iou(b) == pytest.approx(b.iou(a), abs=1e-15)
        assert a.iou(b) == pytest.approx(iou_xywh((x1, y1, w1, h1), (x2, y2, w2, h2)), abs=1e-12)
        assert 0.0 <= a.iou(b) <= 1.0


def test_box_round_trips_through_its_dict():
    box = Box(1.5, -2.25, 30.0, 40.125)
    assert Box.from_dict(box.to_dict()) == box
