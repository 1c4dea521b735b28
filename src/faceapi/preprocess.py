"""Net input preprocessing exactly as face-api.js does it for tensor inputs (spec section 3.2).

``padToSquare`` with zeros (detectors: bottom/right; face nets: centred, odd pixel at the end), then
tfjs ``resizeBilinear`` (align_corners=False, no half-pixel centres, no anti-aliasing), evaluated in
float64 and stored as float32. The result is bit-identical to face-api.js's own input tensors.
"""

from __future__ import annotations

import math

import numpy as np


def js_round(x: float) -> int:
    """JavaScript ``Math.round``: halves round up (Python's round() rounds them to even)."""
    return math.floor(x + 0.5)


def reshaped_dims(width: int, height: int, size: int) -> tuple[int, int]:
    """``computeReshapedDimensions``: the size the image occupies inside the ``size x size`` input."""
    scale = size / max(width, height)
    return js_round(width * scale), js_round(height * scale)


def pad_to_square(image: np.ndarray, centred: bool) -> np.ndarray:
    """Zero-pad an ``H x W x C`` image to a square of side ``max(H, W)``."""
    h, w = image.shape[:2]
    if h == w:
        return image
    diff = abs(h - w)
    after = js_round(diff * 0.5) if centred else diff
    before = diff - after
    side = max(h, w)
    out = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    if h > w:
        out[:, before : before + w] = image
    else:
        out[before : before + h] = image
    return out


def _axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = np.arange(out_size, dtype=np.float64) * (in_size / out_size)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(in_size - 1, np.ceil(src).astype(np.intp))
    return lo, hi, src - lo


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """tfjs ``resizeBilinear(image, [size, size])`` of an ``H x W x C`` image, as float32."""
    h, w = image.shape[:2]
    if h == size and w == size:
        return image.astype(np.float32)
    y0, y1, fy = _axis(h, size)
    x0, x1, fx = _axis(w, size)
    fx = fx[None, :, None]
    img = image.astype(np.float64) if image.dtype != np.float64 else image
    rows0, rows1 = img[y0], img[y1]
    top = rows0[:, x0] + (rows0[:, x1] - rows0[:, x0]) * fx
    bottom = rows1[:, x0] + (rows1[:, x1] - rows1[:, x0]) * fx
    return (top + (bottom - top) * fy[:, None, None]).astype(np.float32)


def to_net_input(image: np.ndarray, size: int, centred: bool) -> np.ndarray:
    """Pad to square then resize: one ``size x size x 3`` float32 net input from an RGB image."""
    return resize_bilinear(pad_to_square(image, centred), size)


def batch_net_input(images: list[np.ndarray], size: int, centred: bool) -> np.ndarray:
    """Stack several images (each padded and resized on its own, as face-api.js does) into a batch."""
    return np.stack([to_net_input(im, size, centred) for im in images]) if images else np.zeros(
        (0, size, size, 3), np.float32)
