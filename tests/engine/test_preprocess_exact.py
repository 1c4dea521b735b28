"""The fast resize against the tfjs formula written out directly, bit for bit, on every path it takes."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from faceapi.engine.preprocess import js_round, resize_bilinear, to_net_input


def tfjs_resize(image: np.ndarray, size: int) -> np.ndarray:
    """tfjs ``resizeBilinear`` (align_corners=False, no half-pixel centres) the plain way: per output
    pixel ``top = tl + (tr - tl) * fx``, ``bottom = bl + (br - bl) * fx``, ``top + (bottom - top) * fy``
    in float64 over the whole image, stored as float32."""
    h, w = image.shape[:2]
    img = image.astype(np.float64).reshape(h, w, -1)
    ys = np.arange(size, dtype=np.float64) * (h / size)
    xs = np.arange(size, dtype=np.float64) * (w / size)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(h - 1, np.ceil(ys).astype(int)), np.minimum(w - 1, np.ceil(xs).astype(int))
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    tl, tr = img[y0][:, x0], img[y0][:, x1]
    bl, br = img[y1][:, x0], img[y1][:, x1]
    top = tl + (tr - tl) * fx
    bottom = bl + (br - bl) * fx
    return (top + (bottom - top) * fy).astype(np.float32).reshape((size, size) + image.shape[2:])


def padded(image: np.ndarray, centred: bool) -> np.ndarray:
    h, w = image.shape[:2]
    side = max(h, w)
    diff = side - min(h, w)
    after = js_round(diff * 0.5) if centred else diff
    out = np.zeros((side, side) + image.shape[2:], image.dtype)
    if h > w:
        out[:, diff - after : diff - after + w] = image
    else:
        out[diff - after : diff - after + h] = image
    return out


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("seed", range(3))
def test_resize_matches_the_formula_bit_for_bit(seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(30):
        h, w = (int(v) for v in rng.integers(1, 300, 2))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        # up- and downscales, 1 px outputs, strong downscales (rows read far apart)
        for size in (1, 7, 112, 150, 224, 416, int(rng.integers(2, 600))):
            for centred in (False, True):
                assert same_bits(to_net_input(img, size, centred), tfjs_resize(padded(img, centred), size)), \
                    (h, w, size, centred)
        assert same_bits(resize_bilinear(img[..., 0], 97), tfjs_resize(img[..., 0], 97))
        floats = (rng.random((h, w, 3)) * 255).astype(np.float32)
        assert same_bits(resize_bilinear(floats, 97), tfjs_resize(floats, 97))
        rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)  # a non-contiguous view
        assert same_bits(to_net_input(rgba[..., :3], 112, True), tfjs_resize(padded(rgba[..., :3], True), 112))


def test_resize_from_several_threads_at_once():
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (int(rng.integers(50, 500)), int(rng.integers(50, 500)), 3), dtype=np.uint8)
              for _ in range(8)]
    expected = [tfjs_resize(padded(im, False), 416) for im in images]
    failures: list[int] = []

    def work(k: int) -> None:
        for _ in range(5):
            for i in range(len(images)):
                j = (i + k) % len(images)
                if not same_bits(to_net_input(images[j], 416, False), expected[j]):
                    failures.append(j)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
