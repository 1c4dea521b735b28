"""Net input preprocessing: tfjs resizeBilinear semantics and padding, checked by hand and for identity."""

from __future__ import annotations

import numpy as np
import pytest

from faceapi.engine.preprocess import (
    batch_net_input,
    js_round,
    pad_to_square,
    reshaped_dims,
    resize_bilinear,
    to_net_input,
)


def test_js_round_and_reshaped_dims():
    assert [js_round(x) for x in (0.5, 1.5, 2.5, -0.5)] == [1, 2, 3, 0]
    assert reshaped_dims(710, 473, 512) == (512, 341)


def test_resize_is_tfjs_asymmetric_bilinear():
    img = np.array([[0, 10], [20, 30]], np.uint8)
    # src = dst * in/out (no half-pixel offset), neighbours clamped at the last row/column
    out = resize_bilinear(img, 4)
    np.testing.assert_array_equal(out[0], [0, 5, 10, 10])
    np.testing.assert_array_equal(out[:, 0], [0, 10, 20, 20])
    assert out[1, 1] == pytest.approx(15.0)
    down = resize_bilinear(np.arange(16, dtype=np.uint8).reshape(4, 4), 2)
    np.testing.assert_array_equal(down, [[0, 2], [8, 10]])  # samples, no anti-aliasing


def test_padding_sides():
    img = np.ones((2, 5, 3), np.uint8)
    assert pad_to_square(img, centred=False)[:2].all() and not pad_to_square(img, centred=False)[2:].any()
    centred = pad_to_square(img, centred=True)  # diff 3: 1 row before, 2 after (JS rounding)
    assert not centred[0].any() and centred[1:3].all() and not centred[3:].any()


@pytest.mark.parametrize("seed", range(4))
def test_to_net_input_equals_pad_then_resize_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        h, w = (int(v) for v in rng.integers(1, 260, 2))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for size in (112, 150, 416, int(rng.integers(1, 300))):
            for centred in (False, True):
                expected = resize_bilinear(pad_to_square(img, centred), size)
                actual = to_net_input(img, size, centred)
                assert np.array_equal(expected.view(np.uint32), actual.view(np.uint32)), (h, w, size, centred)
    crops = [rng.integers(0, 256, (int(rng.integers(30, 200)), int(rng.integers(30, 200)), 3), dtype=np.uint8)
             for _ in range(5)]
    batch = batch_net_input(crops, 112, centred=True)
    assert batch.shape == (5, 112, 112, 3)
    for crop, item in zip(crops, batch):
        np.testing.assert_array_equal(item, to_net_input(crop, 112, centred=True))
    assert batch_net_input([], 112, True).shape == (0, 112, 112, 3)
